"""GET /api/v1/me: who the bearer token speaks for, and what they may do."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema

from api.auth import caller
from api.errors import AUTH_ERRORS
from authflow.access import has_role
from authflow.models import Role, User

router = Router(tags=["me"])


class MeOut(Schema):
    userName: str
    identity: str
    display_name: str
    tenant_id: str
    role: str
    roles: list[str]


def roles_of(user: User) -> list[str]:
    """Every role the person may act in: their effective role and the ones it includes."""
    return [Role.END_USER.value] + [
        r.value for r in (Role.HELPDESK, Role.ADMIN) if has_role(user, r)
    ]


@router.get("/me", response={200: MeOut, **AUTH_ERRORS}, summary="The caller")
def me(request: HttpRequest) -> MeOut:
    user = caller(request)
    return MeOut(
        userName=user.upn or user.identity,
        identity=user.identity,
        display_name=user.display_name,
        tenant_id=str(user.tenant_id or ""),
        role=user.effective_role.value,
        roles=roles_of(user),
    )
