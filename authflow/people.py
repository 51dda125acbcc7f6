"""Admin pages about people: the logged-in users (identities with delegated tokens) and
portal roles."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from authflow import flows, principals, signins, tokens
from authflow.access import role_required
from authflow.models import Role, TokenCache, User
from authflow.signals import identity_revoked
from portal import audit
from portal.http import PortalRequest

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
    rows = TokenCache.objects.select_related("user", "started_by")
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


def revoke_identity(user: User, *, by: User, request: HttpRequest | None = None) -> bool:
    """Drop everything the portal holds for `user` (delegated tokens, API sessions);
    audited when anything was revoked."""
    revoked = tokens.revoke(user, by=by, reason=f"Revoked by {by}.")
    responses = identity_revoked.send(sender=User, user=user)
    revoked = any([revoked, *(response for _, response in responses)])
    if revoked:
        audit.record(
            "token.revoked", request=request, actor=by, on_behalf_of=user.identity, target=user.upn
        )
    return revoked


@require_GET
@role_required(Role.ADMIN)
def logged_in_users(request: PortalRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    status = request.GET.get("status", "")
    method = request.GET.get("method", "")
    tenant = request.GET.get("tenant", "").strip()
    sort = request.GET.get("sort", "upn")
    rows = logged_in_users_query(q=query, status=status, method=method, tenant=tenant, sort=sort)
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    for row in page:
        row.refresh_token_expires_at = refresh_token_expires_at(row)
    return render(
        request,
        "authflow/logged_in_users.html",
        {
            "page": page,
            "filters": {"q": query, "status": status, "method": method, "tenant": tenant},
            "sort": sort,
            "statuses": TokenCache.Status.choices,
            "methods": TokenCache.Method.choices,
        },
    )


def _is_guid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@require_POST
@role_required(Role.ADMIN)
def revoke(request: PortalRequest, identity: str) -> HttpResponse:
    user = get_object_or_404(User, username=identity)
    if revoke_identity(user, by=request.user, request=request):
        messages.success(request, f"Revoked the tokens of {user}. They must sign in again.")
    return redirect("console:logged-in-users")


@require_POST
@role_required(Role.ADMIN)
def re_login(request: PortalRequest, identity: str) -> HttpResponse:
    """Start the helpdesk sign-in for this identity (we know exactly whom to expect)."""
    user = get_object_or_404(User, username=identity)
    expected = principals.ExpectedUser.of(user)
    try:
        sign_in = signins.start_helpdesk_sign_in(expected, started_by=request.user, request=request)
    except flows.FlowError as exc:
        messages.error(request, f"Microsoft did not give a code: {exc}")
        return redirect("console:logged-in-users")
    return redirect("helpdesk:sign-in", code=sign_in.code)


@require_GET
@role_required(Role.ADMIN)
def people(request: PortalRequest) -> HttpResponse:
    users = User.objects.order_by("upn")
    query = request.GET.get("q", "").strip()[:200]
    if query:
        users = users.filter(Q(upn__icontains=query) | Q(display_name__icontains=query))
    return render(
        request,
        "authflow/people.html",
        {
            "page": Paginator(users, 50).get_page(request.GET.get("page")),
            "q": query,
            "roles": Role.choices,
        },
    )


def set_role(
    user: User, role: Role, *, by: User | None, request: PortalRequest | None = None
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


@require_POST
@role_required(Role.ADMIN)
def change_role(request: PortalRequest, identity: str) -> HttpResponse:
    user = get_object_or_404(User, username=identity)
    value = request.POST.get("role", "")
    if value not in Role.values:
        messages.error(request, "Choose one of the roles listed.")
        return redirect("console:people")
    try:
        if set_role(user, Role(value), by=request.user, request=request):
            messages.success(request, f"{user} is now {Role(value).label}.")
    except ValueError as exc:
        messages.error(request, str(exc))
    return redirect("console:people")
