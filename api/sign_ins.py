"""Helpdesk: start a sign-in on behalf of a user or a group, and follow it.

The same domain operations as the helpdesk pages (authflow.helpdesk, authflow.signins):
the sign-in is bound to whom it is for, and whoever else completes it gets nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime
from uuid import UUID

from django.http import HttpRequest
from django_ratelimit.core import is_ratelimited
from ninja import Field, Router, Schema, Status

from api.auth import require_role
from api.errors import AUTH_ERRORS, ApiError, Error
from authflow import flows, helpdesk, principals, signins, tenants
from authflow.models import Role, SignIn
from portal.graph import GraphError

logger = logging.getLogger(__name__)
router = Router(tags=["helpdesk"])


class SignInStart(Schema):
    principal: str = Field(
        min_length=1,
        max_length=320,
        pattern=r"^[^\x00-\x1f\x7f]*$",  # no control characters (NUL broke Graph lookups)
        description="A user's UPN, a group's name or id, or a SharePoint site's name or URL "
        "(its group's owners sign in).",
    )
    tenant: str = Field(
        "",
        max_length=300,
        description="The tenant's domain or id (default: the caller's own). A tenant the "
        "caller may not act in is a 404, as one not connected.",
    )
    force: bool = Field(False, description="Start even if valid tokens already exist.")


class PersonOut(Schema):
    identity: str
    upn: str
    display_name: str


class ExpectedOut(Schema):
    identity: str | None = Field(description="userId.tenantId of the user, for a user.")
    group_id: str | None = Field(description="The group, whose owners may sign in.")
    label: str
    owners: list[PersonOut]


class SignInOut(Schema):
    id: UUID
    status: str
    status_message: str
    user_code: str
    verification_uri: str
    expires_at: datetime
    created_at: datetime
    expected: ExpectedOut
    message: str = Field(description="What to send the person who is to sign in.")
    signed_in_as: PersonOut | None


def _people(users: tuple[principals.ExpectedUser, ...]) -> list[PersonOut]:
    return [PersonOut(identity=u.identity, upn=u.upn, display_name=u.display_name) for u in users]


def _out(sign_in: SignIn, owners: tuple[principals.ExpectedUser, ...] = ()) -> SignInOut:
    signed_in_as = None
    if sign_in.status == SignIn.Status.COMPLETED or sign_in.actual_identity:
        signed_in_as = PersonOut(
            identity=sign_in.actual_identity, upn=sign_in.actual_label, display_name=""
        )
    return SignInOut(
        id=sign_in.code,
        status=sign_in.status,
        status_message=sign_in.message,
        user_code=sign_in.user_code,
        verification_uri=sign_in.verification_uri,
        expires_at=sign_in.expires_at,
        created_at=sign_in.created_at,
        expected=ExpectedOut(
            identity=sign_in.expected_identity or None,
            group_id=sign_in.expected_group_id or None,
            label=sign_in.expected_label,
            owners=_people(owners),
        ),
        message=sign_in.relay_message,
        signed_in_as=signed_in_as,
    )


@router.post(
    "/sign-ins",
    response={
        201: SignInOut,
        **AUTH_ERRORS,
        403: Error,
        404: Error,
        409: Error,
        429: Error,
        502: Error,
    },
    summary="Start a sign-in on behalf of a user or a group (helpdesk)",
)
def start(request: HttpRequest, payload: SignInStart) -> Status:
    user = require_role(request, Role.HELPDESK)
    if is_ratelimited(
        request,
        group="helpdesk-sign-in",  # shared with the helpdesk page
        key="user",
        rate=helpdesk.HELPDESK_SIGN_IN_RATE,
        increment=True,
    ):
        raise ApiError(429, "too_many_requests", "Too many sign-ins started. Wait a while.")
    try:
        tenant_id = helpdesk.acting_tenant(user, payload.tenant)
        principal = principals.resolve(payload.principal.strip(), tenant_id=tenant_id)
    except tenants.TenantNotFound as exc:  # not connected, or not one the caller helps in
        raise ApiError(404, "not_found", str(exc)) from exc
    except (tenants.TenantError, principals.PrincipalNotFound) as exc:
        raise ApiError(400, "invalid_request", str(exc)) from exc
    except (GraphError, flows.FlowError) as exc:
        logger.warning("Helpdesk lookup failed: %s", exc)
        raise ApiError(
            502, "bad_gateway", "Microsoft Graph could not be asked who that is."
        ) from exc
    existing = helpdesk.existing_tokens(principal)
    if existing and not payload.force:
        held = "; ".join(
            f"{row.user} (access token until {row.access_token_expires_at:%Y-%m-%d %H:%M} UTC)"
            for row in existing
        )
        raise ApiError(
            409,
            "conflict",
            f"The portal already holds valid tokens for: {held}. Send force=true to start anyway.",
        )
    try:
        sign_in = signins.start_helpdesk_sign_in(principal, started_by=user, request=request)
    except flows.FlowError as exc:
        reason = signins.explain(exc.error, str(exc)) or str(exc)
        raise ApiError(502, "bad_gateway", f"Microsoft did not give a code. {reason}") from exc
    owners = principal.owners if isinstance(principal, principals.ExpectedGroup) else ()
    return Status(201, _out(sign_in, owners))


@router.get(
    "/sign-ins/{id}",
    response={200: SignInOut, **AUTH_ERRORS, 403: Error, 404: Error},
    summary="A sign-in started on someone's behalf (helpdesk)",
)
def detail(request: HttpRequest, id: UUID) -> SignInOut:
    user = require_role(request, Role.HELPDESK)
    sign_in = helpdesk.helpdesk_sign_ins(user).filter(code=id).first()
    if sign_in is None:
        raise ApiError(404, "not_found", "No such sign-in.")
    return _out(sign_in, helpdesk.current_owners(sign_in))
