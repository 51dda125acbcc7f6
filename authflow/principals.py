"""Whom a sign-in is for: resolve a UPN (or, for helpdesk, a group) through Graph with the
portal's application permissions, so the sign-in can be bound to an expected identity."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from authflow import tokens
from portal.graph import GraphError


class PrincipalNotFound(Exception):
    pass


@dataclass(frozen=True)
class ExpectedUser:
    oid: str
    tenant_id: str
    upn: str
    display_name: str

    @property
    def identity(self) -> str:
        return f"{self.oid}.{self.tenant_id}"


def resolve_user(upn: str, *, tenant_id: str | None = None) -> ExpectedUser:
    tenant_id = tenant_id or settings.MICROSOFT_ALLOWED_TENANT_IDS[0]
    graph = tokens.graph_as_app(tenant_id)
    try:
        found = graph.get(f"users/{upn}", **{"$select": "id,userPrincipalName,displayName"})
    except GraphError as exc:
        if exc.is_not_found:
            raise PrincipalNotFound(f"No user {upn} in the tenant.") from exc
        raise
    return ExpectedUser(
        oid=found["id"],
        tenant_id=tenant_id,
        upn=found.get("userPrincipalName", upn),
        display_name=found.get("displayName", ""),
    )
