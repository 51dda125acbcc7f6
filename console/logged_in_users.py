"""Admin console: the logged-in users (identities the portal holds delegated tokens
for), with revoke and re-login, and which backups were last read with each one's token
(revoking that person makes those backups wait for another sign-in)."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from authflow import flows, principals, signins
from authflow.access import role_required
from authflow.identities import logged_in_users_query, refresh_token_expires_at, revoke_identity
from authflow.models import Role, TokenCache, User
from console.tenancy import scoped
from portal.http import PortalRequest
from restore.backup import delegation


@require_GET
@role_required(Role.ADMIN)
def logged_in_users(request: PortalRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    status = request.GET.get("status", "")
    method = request.GET.get("method", "")
    tenant = request.GET.get("tenant", "").strip()
    sort = request.GET.get("sort", "upn")
    rows = scoped(
        request,
        logged_in_users_query(q=query, status=status, method=method, tenant=tenant, sort=sort),
        "user__tenant_id",
    )
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    backups = delegation.read_as([row.user for row in page])
    for row in page:
        # For the template only: TokenCache has no such field (mypy rightly says so).
        row.refresh_token_expires_at = refresh_token_expires_at(row)  # type: ignore[attr-defined]
        row.backups = backups.get(row.user_id, [])  # type: ignore[attr-defined]
    return render(
        request,
        "console/logged_in_users.html",
        {
            "page": page,
            "filters": {"q": query, "status": status, "method": method, "tenant": tenant},
            "sort": sort,
            "statuses": TokenCache.Status.choices,
            "methods": TokenCache.Method.choices,
        },
    )


def _back_to_list(request: PortalRequest) -> HttpResponse:
    """The list as it was (filters, sort, page): the form's `next`, if it is that list."""
    back = request.POST.get("next", "")
    listing = reverse("console:logged-in-users")
    if back.startswith(f"{listing}?") and url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}
    ):
        return redirect(back)
    return redirect(listing)


@require_POST
@role_required(Role.ADMIN)
def revoke(request: PortalRequest, identity: str) -> HttpResponse:
    user = get_object_or_404(scoped(request, User.objects.all(), "tenant_id"), username=identity)
    if revoke_identity(user, by=request.user, request=request):
        messages.success(request, f"Revoked the tokens of {user}. They must sign in again.")
    return _back_to_list(request)


@require_POST
@role_required(Role.ADMIN)
def re_login(request: PortalRequest, identity: str) -> HttpResponse:
    """Start the helpdesk sign-in for this identity (we know exactly whom to expect)."""
    user = get_object_or_404(scoped(request, User.objects.all(), "tenant_id"), username=identity)
    expected = principals.ExpectedUser.of(user)
    try:
        sign_in = signins.start_helpdesk_sign_in(expected, started_by=request.user, request=request)
    except flows.FlowError as exc:
        messages.error(request, f"Microsoft did not give a code: {exc}")
        return _back_to_list(request)
    return redirect("helpdesk:sign-in", code=sign_in.code)
