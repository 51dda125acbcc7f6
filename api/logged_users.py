"""Admin: identities the portal holds delegated tokens for, and revoking them.

The same query and the same revoke as the admin page (authflow.identities).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from api.auth import require_role
from api.errors import AUTH_ERRORS, ApiError, Error
from api.grants import IDENTITY_KEY
from api.paging import numbered_page
from authflow import identities
from authflow.access import sees_tenant, tenant_ids_of
from authflow.models import Role, TokenCache, User

router = Router(tags=["admin"])

MAX_PAGE_SIZE = 200


class LoggedUserOut(Schema):
    identity: str
    upn: str
    display_name: str
    tenant_id: str
    status: str
    status_reason: str
    method: str
    started_by: str | None
    scopes: list[str]
    signed_in_at: datetime
    access_token_expires_at: datetime | None
    refresh_token_renewed_at: datetime | None
    refresh_token_expires_at: datetime | None = Field(
        description="Estimated: 90 days after the refresh token was last renewed."
    )
    last_used_at: datetime | None


class LoggedUsersPage(Schema):
    items: list[LoggedUserOut]
    count: int
    page: int
    page_size: int


class LoggedUsersFilter(Schema):
    q: str = Field("", max_length=200, description="Part of the UPN or name.")
    status: Literal["", "valid", "needs_sign_in", "revoked"] = ""
    method: Literal["", "device_code", "browser"] = ""
    tenant: str = Field("", max_length=64, description="A tenant id.")
    sort: Literal["upn", "signed_in", "expires", "last_used", "status"] = "upn"
    page: int = Field(1, ge=1, le=1_000_000)
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


class RevokedOut(Schema):
    identity: str
    revoked: bool = Field(description="False when there was nothing left to revoke.")


def _out(row: TokenCache) -> LoggedUserOut:
    return LoggedUserOut(
        identity=row.user.identity,
        upn=row.user.upn,
        display_name=row.user.display_name,
        tenant_id=str(row.user.tenant_id or ""),
        status=row.status,
        status_reason=row.status_reason,
        method=row.method,
        started_by=str(row.started_by) if row.started_by else None,
        scopes=list(row.scopes),
        signed_in_at=row.signed_in_at,
        access_token_expires_at=row.access_token_expires_at,
        refresh_token_renewed_at=row.refresh_token_renewed_at,
        refresh_token_expires_at=identities.refresh_token_expires_at(row),
        last_used_at=row.last_used_at,
    )


@router.get(
    "/logged-users",
    response={200: LoggedUsersPage, **AUTH_ERRORS, 403: Error},
    summary="Identities the portal holds delegated tokens for (admin)",
)
def logged_users(request: HttpRequest, filters: Query[LoggedUsersFilter]) -> LoggedUsersPage:
    admin = require_role(request, Role.ADMIN)
    rows = identities.logged_in_users_query(
        q=filters.q.strip(),
        status=filters.status,
        method=filters.method,
        tenant=filters.tenant.strip(),
        sort=filters.sort,
    )
    if (allowed := tenant_ids_of(admin)) is not None:
        rows = rows.filter(user__tenant_id__in=allowed)
    return LoggedUsersPage(**numbered_page(rows, filters.page, filters.page_size, _out))


@router.post(
    "/logged-users/{identity}/revoke",
    response={200: RevokedOut, **AUTH_ERRORS, 403: Error, 404: Error},
    summary="Revoke an identity's delegated tokens and API sessions (admin)",
)
def revoke(request: HttpRequest, identity: str) -> RevokedOut:
    admin = require_role(request, Role.ADMIN)
    user = (
        User.objects.filter(username=identity.lower()).first()
        if IDENTITY_KEY.match(identity)
        else None
    )
    if user is None or not sees_tenant(admin, user.tenant_id):
        raise ApiError(404, "not_found", "No such identity.")
    return RevokedOut(
        identity=user.identity, revoked=identities.revoke_identity(user, by=admin, request=request)
    )
