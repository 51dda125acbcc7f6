"""Whom a sign-in is for: resolve a UPN or a group through Graph with the portal's
application permissions, so the sign-in can be bound to the expected identity (or to
the group's owners) before anyone enters a code."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings

from authflow import tokens
from portal.graph import GraphError

if TYPE_CHECKING:
    from authflow.models import User


class PrincipalNotFound(Exception):
    """No such user or group; the message is safe to show."""


@dataclass(frozen=True)
class ExpectedUser:
    oid: str
    tenant_id: str
    upn: str
    display_name: str

    @property
    def identity(self) -> str:
        return f"{self.oid}.{self.tenant_id}"

    @classmethod
    def of(cls, user: User) -> ExpectedUser:
        """A person the portal already knows (re-login, a job waiting for a sign-in)."""
        return cls(
            oid=str(user.oid),
            tenant_id=str(user.tenant_id),
            upn=user.upn,
            display_name=user.display_name,
        )


@dataclass(frozen=True)
class ExpectedGroup:
    id: str
    tenant_id: str
    display_name: str
    owners: tuple[ExpectedUser, ...]

    @property
    def owner_upns(self) -> str:
        return "; ".join(owner.upn for owner in self.owners)


def _tenant(tenant_id: str | None) -> str:
    return tenant_id or settings.MICROSOFT_ALLOWED_TENANT_IDS[0]


def _user(found: dict, tenant_id: str) -> ExpectedUser:
    return ExpectedUser(
        oid=found["id"],
        tenant_id=tenant_id,
        upn=found.get("userPrincipalName") or "",
        display_name=found.get("displayName") or "",
    )


def resolve_user(upn: str, *, tenant_id: str | None = None) -> ExpectedUser:
    tenant_id = _tenant(tenant_id)
    try:
        found = tokens.graph_as_app(tenant_id).get(
            f"users/{upn}", **{"$select": "id,userPrincipalName,displayName"}
        )
    except GraphError as exc:
        if exc.is_not_found or exc.status == 400:
            raise PrincipalNotFound(f"There is no user {upn} in the tenant.") from exc
        raise
    return _user(found, tenant_id)


def group_owners(group_id: str, *, tenant_id: str | None = None) -> tuple[ExpectedUser, ...]:
    """The group's current owners (users only), from Graph."""
    tenant_id = _tenant(tenant_id)
    owners = tokens.graph_as_app(tenant_id).iterate(
        f"groups/{group_id}/owners", **{"$select": "id,userPrincipalName,displayName"}
    )
    return tuple(
        _user(owner, tenant_id)
        for owner in owners
        if owner.get("@odata.type", "#microsoft.graph.user") == "#microsoft.graph.user"
    )


def resolve_group(name_or_id: str, *, tenant_id: str | None = None) -> ExpectedGroup:
    """A group by id, or by its exact display name (which must then be unique)."""
    tenant_id = _tenant(tenant_id)
    graph = tokens.graph_as_app(tenant_id)
    select = {"$select": "id,displayName"}
    try:
        uuid.UUID(name_or_id)
        is_id = True
    except ValueError:
        is_id = False
    try:
        if is_id:
            found = graph.get(f"groups/{name_or_id}", **select)
        else:
            quoted = name_or_id.replace("'", "''")
            matches = list(
                graph.iterate("groups", **{"$filter": f"displayName eq '{quoted}'", **select})
            )
            if len(matches) > 1:
                raise PrincipalNotFound(
                    f"{len(matches)} groups are called {name_or_id!r}; give the group's id."
                )
            if not matches:
                raise PrincipalNotFound(f"There is no group called {name_or_id!r} in the tenant.")
            found = matches[0]
    except GraphError as exc:
        if exc.is_not_found or exc.status == 400:
            raise PrincipalNotFound(f"There is no group {name_or_id} in the tenant.") from exc
        raise
    return ExpectedGroup(
        id=found["id"],
        tenant_id=tenant_id,
        display_name=found.get("displayName") or name_or_id,
        owners=group_owners(found["id"], tenant_id=tenant_id),
    )


def resolve(principal: str, *, tenant_id: str | None = None) -> ExpectedUser | ExpectedGroup:
    """A UPN (has an @) is a user; anything else names a group (display name or id)."""
    principal = principal.strip()
    if not principal:
        raise PrincipalNotFound("Name a user (UPN) or a group.")
    if "@" in principal:
        return resolve_user(principal, tenant_id=tenant_id)
    return resolve_group(principal, tenant_id=tenant_id)
