"""Whom a sign-in is for: resolve a UPN, a group or a SharePoint site through Graph with
the portal's application permissions, so the sign-in can be bound to the expected
identity (or to the owners of the group, or of the group that owns the site) before
anyone enters a code."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.http import HttpRequest

from authflow import tokens
from portal import audit
from portal.graph import GraphError

if TYPE_CHECKING:
    from authflow.models import Tenant, User


class PrincipalNotFound(Exception):
    """No such user or group; the message is safe to show."""


class PrincipalAmbiguous(PrincipalNotFound):
    """The name matches several things (the message lists them), or a thing that cannot
    be signed in for; asking again elsewhere would not help."""


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
    """A group, or the team site of a group (`site_url` set): its owners may sign in."""

    id: str
    tenant_id: str
    display_name: str
    owners: tuple[ExpectedUser, ...]
    site_url: str = ""

    @property
    def owner_upns(self) -> str:
        return "; ".join(owner.upn for owner in self.owners)

    @property
    def kind(self) -> str:
        return "site" if self.site_url else "group"


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


def group_members(group_id: str, *, tenant_id: str | None = None) -> tuple[ExpectedUser, ...]:
    """The group's current members (users only), from Graph."""
    tenant_id = _tenant(tenant_id)
    members = tokens.graph_as_app(tenant_id).iterate(
        f"groups/{group_id}/members", **{"$select": "id,userPrincipalName,displayName"}
    )
    return tuple(
        _user(member, tenant_id)
        for member in members
        if member.get("@odata.type", "#microsoft.graph.user") == "#microsoft.graph.user"
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
                raise PrincipalAmbiguous(
                    f"{len(matches)} groups are called {name_or_id!r}: "
                    + ", ".join(m["id"] for m in matches)
                    + ". Give the id of the one you mean."
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


def resolve_site(name_or_url: str, *, tenant_id: str | None = None) -> ExpectedGroup:
    """A SharePoint team site by URL (`https://host/sites/name`) or by its name or display
    name (which must then be unique). Its owners are the owners of the Microsoft 365
    group that owns its document library (the drive's `owner.group`)."""
    tenant_id = _tenant(tenant_id)
    graph = tokens.graph_as_app(tenant_id)
    select = {"$select": "id,name,displayName,webUrl"}
    try:
        if name_or_url.lower().startswith("https://"):
            parts = urlsplit(name_or_url)
            path = parts.path.rstrip("/")
            if not parts.hostname or not path:
                raise PrincipalNotFound(f"{name_or_url} is not a site address.")
            site = graph.get(f"sites/{parts.hostname}:{quote(path)}", **select)
        else:
            wanted = name_or_url.lower()
            found = list(graph.iterate("sites", search=name_or_url, **select))
            matches = [
                s
                for s in found
                if wanted in ((s.get("displayName") or "").lower(), (s.get("name") or "").lower())
            ]
            if len(matches) > 1:
                raise PrincipalAmbiguous(
                    f"{len(matches)} sites are called {name_or_url!r}: "
                    + ", ".join(m.get("webUrl") or m["id"] for m in matches)
                    + ". Give the address of the one you mean."
                )
            if not matches:
                raise PrincipalNotFound(
                    f"There is no user, group or site called {name_or_url!r} in the tenant."
                )
            site = matches[0]
        drive = graph.get(f"sites/{site['id']}/drive", **{"$select": "id,owner"})
    except GraphError as exc:
        if exc.is_not_found or exc.status == 400:
            raise PrincipalNotFound(f"There is no site {name_or_url} in the tenant.") from exc
        raise
    group = (drive.get("owner") or {}).get("group") or {}
    label = site.get("displayName") or site.get("name") or name_or_url
    if not group.get("id"):
        raise PrincipalAmbiguous(
            f"The site {label} belongs to no Microsoft 365 group: name its owner by UPN."
        )
    return ExpectedGroup(
        id=group["id"],
        tenant_id=tenant_id,
        display_name=label,
        owners=group_owners(group["id"], tenant_id=tenant_id),
        site_url=site.get("webUrl") or name_or_url,
    )


def resolve(principal: str, *, tenant_id: str | None = None) -> ExpectedUser | ExpectedGroup:
    """A UPN (has an @) is a user; an https:// address is a site; anything else names a
    group (display name or id), or else a site (name or display name)."""
    principal = principal.strip()
    if not principal:
        raise PrincipalNotFound("Name a user (UPN), a group or a site.")
    if "@" in principal:
        return resolve_user(principal, tenant_id=tenant_id)
    if principal.lower().startswith("https://"):
        return resolve_site(principal, tenant_id=tenant_id)
    try:
        return resolve_group(principal, tenant_id=tenant_id)
    except PrincipalAmbiguous:
        raise
    except PrincipalNotFound as not_a_group:
        try:
            return resolve_site(principal, tenant_id=tenant_id)
        except PrincipalAmbiguous:
            raise
        except PrincipalNotFound:
            pass
        except GraphError as exc:  # sites unreadable (no Sites.Read.All): it is no group
            if exc.status != 403:
                raise
            raise not_a_group from exc
        raise PrincipalNotFound(
            f"There is no user, group or site called {principal!r} in the tenant."
        ) from not_a_group


def set_backup_account(
    tenant: Tenant, upn: str, *, by: User | None = None, request: HttpRequest | None = None
) -> str:
    """Make `upn` the tenant's dedicated backup account (restore/backup/delegation.py), or
    clear it (""). The account must exist in the tenant (asked of Graph, before anything
    is written); raises PrincipalNotFound otherwise. Returns the UPN kept."""
    upn = upn.strip()
    if upn:
        if "@" not in upn:
            raise PrincipalNotFound("The backup account is a user: give its UPN (name@domain).")
        upn = resolve_user(upn, tenant_id=str(tenant.tenant_id)).upn or upn
    type(tenant).objects.filter(pk=tenant.pk).update(backup_account=upn[:320])
    tenant.backup_account = upn[:320]
    audit.record(
        "tenant.backup_account",
        request=request,
        actor=by,
        target=str(tenant.tenant_id),
        tenant_id=tenant.tenant_id,
        details={"backup_account": upn or "(none)"},
    )
    return upn
