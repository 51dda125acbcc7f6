"""What the portal holds for each identity, and its role: the queries and changes behind
the admin console's logged-in users and people pages, the API's /logged-users, and
`manage.py grant`."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from authflow import tokens
from authflow.models import Role, SignIn, Tenant, TenantAdmin, TokenCache, User
from authflow.signals import identity_revoked
from portal import audit

# Entra refresh tokens expire after 90 days without use (sliding).
REFRESH_TOKEN_LIFETIME = timedelta(days=90)
SORTS = {
    "upn": "user__upn",
    "signed_in": "-signed_in_at",
    "expires": "access_token_expires_at",
    "last_used": "-last_used_at",
    "status": "status",
}


def logged_in_users_query(
    *, q: str = "", status: str = "", method: str = "", tenant: str = "", sort: str = "upn"
) -> QuerySet[TokenCache]:
    """Identities the portal holds (or held) delegated tokens for, filtered and sorted as
    the admin page and the API offer. Unknown filter values are ignored."""
    # Never the ciphertext: no page shows it, and it is most of a row (~3 KB).
    rows = TokenCache.objects.select_related("user", "started_by").defer("ciphertext")
    if q:
        rows = rows.filter(Q(user__upn__icontains=q) | Q(user__display_name__icontains=q))
    if status in TokenCache.Status.values:
        rows = rows.filter(status=status)
    if method in TokenCache.Method.values:
        rows = rows.filter(method=method)
    if tenant:
        rows = rows.filter(user__tenant_id__iexact=tenant) if _is_guid(tenant) else rows.none()
    return rows.order_by(SORTS.get(sort, "user__upn"), "pk")


def refresh_token_expires_at(row: TokenCache) -> datetime | None:
    """Estimated: Entra's refresh tokens expire after 90 days without use."""
    if row.refresh_token_renewed_at and row.status == TokenCache.Status.VALID:
        return row.refresh_token_renewed_at + REFRESH_TOKEN_LIFETIME
    return None


def end_everything(
    user: User, *, reason: str, token_status: str = TokenCache.Status.REVOKED
) -> bool:
    """End, at once, everything that lets `user` in: delegated tokens, API token families
    (identity_revoked's receivers), pending sign-ins they started or that wait for them,
    and every web session (the session hash changes, so each open browser's next request
    goes to sign-in, and a download in progress stops: see access.still_signed_in).
    Returns whether any token was held. The caller audits."""
    revoked = tokens.revoke(user, by=None, reason=reason, status=token_status)
    responses = identity_revoked.send(sender=User, user=user)
    revoked = any([revoked, *(response for _, response in responses)])
    SignIn.objects.filter(status=SignIn.Status.PENDING).filter(
        Q(expected_identity=user.identity) | Q(started_by=user)
    ).update(status=SignIn.Status.CANCELLED, message=f"Cancelled: {reason}"[:500])
    # A new unusable password: Django's session auth hash derives from it.
    User.objects.filter(pk=user.pk).update(password=make_password(None))
    return revoked


def revoke_identity(user: User, *, by: User, request: HttpRequest | None = None) -> bool:
    """An admin's Revoke: everything the portal holds for `user` ends; audited when any
    token was held (sessions and pending sign-ins end either way)."""
    revoked = end_everything(user, reason=f"Revoked by {by}.")
    if revoked:
        audit.record(
            "token.revoked", request=request, actor=by, on_behalf_of=user.identity, target=user.upn
        )
    return revoked


def sign_out_everywhere(user: User, *, request: HttpRequest | None = None) -> None:
    """The person's own "not me / sign out everywhere": as an admin's Revoke; audited."""
    end_everything(user, reason="Signed out everywhere at the person's request.")
    audit.record(
        "identity.signed_out_everywhere",
        request=request,
        actor=user,
        on_behalf_of=user.identity,
        target=user.upn,
    )


def end_access(user: User, *, reason: str, request: HttpRequest | None = None) -> bool:
    """Microsoft says `user` may no longer sign in (account disabled or deleted, sessions
    revoked): everything ends as on an admin's Revoke, with Microsoft's reason; audited.
    The delegated tokens show "needs sign-in": signing in again is what fixes it."""
    revoked = end_everything(user, reason=reason, token_status=TokenCache.Status.NEEDS_SIGN_IN)
    audit.record(
        "identity.access_ended",
        request=request,
        on_behalf_of=user.identity,
        target=user.upn,
        outcome="denied",
        details={"reason": reason[:300]},
    )
    return revoked


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def set_role(
    user: User, role: Role, *, by: User | None, request: HttpRequest | None = None
) -> bool:
    """Grant a portal role (audited). Refuses to leave the portal without an admin."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if user.role == role:
            return False
        if user.role == Role.ADMIN and role != Role.ADMIN:
            admins = User.objects.select_for_update().filter(
                Q(role=Role.ADMIN) | Q(directory_role=Role.ADMIN)
            )
            if not admins.exclude(pk=user.pk).exists():
                raise ValueError("This is the last admin: grant the role to someone else first.")
        previous = user.role
        user.role = role
        user.save(update_fields=["role"])
        audit.record(
            "role.changed",
            request=request,
            actor=by,
            on_behalf_of=user.identity,
            target=user.upn,
            details={"from": previous, "to": role.value},
        )
    return True


def grant_in_tenant(
    user: User, role: Role, tenant: Tenant, *, by: User | None, request: HttpRequest | None = None
) -> bool:
    """A tenant grant (audited): `user` is admin or helpdesk in `tenant` only
    (authflow.access). A grant of the other role there is replaced. Whether it changed."""
    if role not in (Role.ADMIN, Role.HELPDESK):
        raise ValueError("A tenant grant is for the admin or the helpdesk role.")
    with transaction.atomic():
        grant, created = TenantAdmin.objects.select_for_update().get_or_create(
            user=user, tenant=tenant, defaults={"role": role.value}
        )
        if not created and grant.role == role.value:
            return False
        previous = "" if created else grant.role
        grant.role = role.value
        grant.save(update_fields=["role"])
        audit.record(
            "role.changed",
            request=request,
            actor=by,
            on_behalf_of=user.identity,
            target=user.upn,
            tenant_id=tenant.tenant_id,
            details={"from": previous, "to": role.value, "in_tenant": str(tenant.tenant_id)},
        )
    return True
