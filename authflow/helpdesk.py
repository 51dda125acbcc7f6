"""Helpdesk pages: start a sign-in on behalf of a user or a group, relay the code, follow it.

The sign-in is bound to whom it is for (authflow.signins.wrong_account): whoever else
completes it gets nothing stored, and the helpdesk sees who it was.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_ratelimit.decorators import ratelimit

from authflow import flows, links, principals, signins, tenants
from authflow.access import helpdesk_tenant_ids, helps_in_tenant, home_tenant_id, role_required
from authflow.models import Role, SignIn, TokenCache
from portal import audit
from portal.graph import GraphError
from portal.http import PortalRequest

logger = logging.getLogger(__name__)

HELPDESK_SIGN_IN_RATE = "30/h"


def helpdesk_sign_ins(user: object) -> QuerySet[SignIn]:
    """Sign-ins started on someone's behalf (what helpdesk pages and the API show), in
    the tenants `user` may act in as helpdesk (access.helpdesk_tenant_ids): another
    tenant's sign-in is a 404, as if it did not exist."""
    rows = SignIn.objects.filter(
        method__in=[SignIn.Method.DEVICE_CODE, SignIn.Method.LINK], started_by__isnull=False
    ).exclude(expected_identity="", expected_group_id="")
    allowed = helpdesk_tenant_ids(user)
    if allowed is None:
        return rows
    return rows.filter(tenant__in=[str(tenant_id) for tenant_id in allowed])


def acting_tenant(user: object, text: str = "") -> str | None:
    """The tenant a helpdesk person starts a sign-in in: the one named (its domain or id),
    else their own (or the portal's own, or their only one); None: the default tenant, for
    a global admin who names none. Raises tenants.TenantNotFound for a tenant not
    connected or not theirs (the same answer), tenants.TenantError for bad input."""
    allowed = helpdesk_tenant_ids(user)
    if text.strip():
        tenant = tenants.find(text)
        if not helps_in_tenant(user, tenant.tenant_id):
            raise tenants.TenantNotFound(
                f"No connected tenant is {text.strip().lower()}; "
                "`manage.py tenant list` shows them."
            )
        return str(tenant.tenant_id)
    if allowed is None:
        return None
    for candidate in (getattr(user, "tenant_id", None), home_tenant_id()):
        if candidate is not None and helps_in_tenant(user, candidate):
            return str(candidate)
    if len(allowed) == 1:
        return str(next(iter(allowed)))
    raise tenants.TenantError("Name the tenant (its domain or id) to start the sign-in in.")


def existing_tokens(
    principal: principals.ExpectedUser | principals.ExpectedGroup,
) -> list[TokenCache]:
    """Valid delegated tokens that already cover this principal (the user, or any owner)."""
    if isinstance(principal, principals.ExpectedGroup):
        identities = [owner.identity for owner in principal.owners]
    else:
        identities = [principal.identity]
    return list(
        TokenCache.objects.filter(user__username__in=identities, status=TokenCache.Status.VALID)
        .exclude(ciphertext=b"")
        .select_related("user")
    )


def _home(request: PortalRequest, *, status: int = 200, **context: object) -> HttpResponse:
    page = Paginator(
        helpdesk_sign_ins(request.user)
        .select_related("started_by", "result_user")
        .order_by("-created_at"),
        25,
    ).get_page(request.GET.get("page"))
    return render(request, "authflow/helpdesk.html", {"page": page, **context}, status=status)


@require_GET
@role_required(Role.HELPDESK)
def home(request: PortalRequest) -> HttpResponse:
    return _home(
        request,
        principal=request.GET.get("principal", ""),
        tenant=request.GET.get("tenant", ""),
    )


@require_POST
@role_required(Role.HELPDESK)
@ratelimit(group="helpdesk-sign-in", key="user", rate=HELPDESK_SIGN_IN_RATE, block=False)
def start(request: PortalRequest) -> HttpResponse:
    text = request.POST.get("principal", "").strip()[:320]
    tenant_text = request.POST.get("tenant", "").strip()[:300]
    shown: dict[str, Any] = {"principal": text, "tenant": tenant_text}
    if getattr(request, "limited", False):
        return _home(request, status=429, error="Too many sign-ins started. Wait a while.", **shown)
    try:
        tenant_id = acting_tenant(request.user, tenant_text)
        principal = principals.resolve(text, tenant_id=tenant_id)
    except tenants.TenantNotFound as exc:
        return _home(request, status=404, error=str(exc), **shown)
    except (tenants.TenantError, principals.PrincipalNotFound) as exc:
        return _home(request, status=400, error=str(exc), **shown)
    except (GraphError, flows.FlowError) as exc:
        logger.warning("Helpdesk lookup failed: %s", exc)
        return _home(
            request, status=502, error="Microsoft Graph could not be asked who that is.", **shown
        )
    existing = existing_tokens(principal)
    if existing and request.POST.get("force") != "1":
        return _home(request, resolved=principal, existing=existing, **shown)
    if request.POST.get("method") == "link":
        new = links.create_link(principal, started_by=request.user, request=request)
        return _show_new_link(request, new)
    try:
        sign_in = signins.start_helpdesk_sign_in(
            principal, started_by=request.user, request=request
        )
    except flows.FlowError as exc:
        reason = signins.explain(exc.error, str(exc)) or str(exc)
        return _home(
            request, status=502, principal=text, error=f"Microsoft did not give a code. {reason}"
        )
    return redirect("helpdesk:sign-in", code=sign_in.code)


def _show_new_link(request: PortalRequest, new: links.NewLink) -> HttpResponse:
    """The detail page of a new link, with the link itself: shown this once."""
    sign_in = new.sign_in
    return render(
        request,
        "authflow/helpdesk_sign_in.html",
        {"sign_in": sign_in, "owners": current_owners(sign_in), "link_url": new.url},
        status=201,
    )


@require_POST
@role_required(Role.HELPDESK)
@ratelimit(group="helpdesk-sign-in", key="user", rate=HELPDESK_SIGN_IN_RATE, block=False)
def link_instead(request: PortalRequest, code: UUID) -> HttpResponse:
    """A sign-in link for whom an existing sign-in is for (a code Conditional Access
    blocked, or one the person cannot use); a pending code is cancelled."""
    sign_in = get_object_or_404(helpdesk_sign_ins(request.user), code=code)
    if getattr(request, "limited", False):
        return _home(request, status=429, error="Too many sign-ins started. Wait a while.")
    try:
        principal = principals.resolve(
            sign_in.expected_group_id or sign_in.expected_label, tenant_id=sign_in.tenant
        )
    except principals.PrincipalNotFound as exc:
        return _home(request, status=400, principal=sign_in.expected_label, error=str(exc))
    except (GraphError, flows.FlowError) as exc:
        logger.warning("Helpdesk lookup failed: %s", exc)
        return _home(request, status=502, error="Microsoft Graph could not be asked who that is.")
    if sign_in.finish(SignIn.Status.CANCELLED, "Replaced by a sign-in link."):
        audit.record(
            "sign_in.cancelled",
            request=request,
            on_behalf_of=sign_in.expected_label,
            target=str(sign_in.code),
            tenant_id=signins.tenant_guid(sign_in.tenant),
        )
    new = links.create_link(principal, started_by=request.user, request=request)
    return _show_new_link(request, new)


@require_GET
@role_required(Role.HELPDESK)
@vary_on_headers("HX-Request")
def sign_in_detail(request: PortalRequest, code: UUID) -> HttpResponse:
    sign_in = get_object_or_404(
        helpdesk_sign_ins(request.user).select_related("started_by"), code=code
    )
    links.expire_if_due(sign_in)
    sign_in.refresh_from_db()
    if request.htmx:
        return render(
            request, "authflow/helpdesk_sign_in.html#helpdesk-status", {"sign_in": sign_in}
        )
    return render(
        request,
        "authflow/helpdesk_sign_in.html",
        {"sign_in": sign_in, "owners": current_owners(sign_in)},
    )


def current_owners(sign_in: SignIn) -> tuple[principals.ExpectedUser, ...]:
    """The owners of the group a sign-in is for, as Graph says now (none if unreadable)."""
    if not sign_in.expected_group_id:
        return ()
    try:
        return principals.group_owners(sign_in.expected_group_id, tenant_id=sign_in.tenant)
    except (GraphError, flows.FlowError):
        logger.warning("Could not list the owners of group %s", sign_in.expected_group_id)
        return ()


@require_POST
@role_required(Role.HELPDESK)
def cancel(request: PortalRequest, code: UUID) -> HttpResponse:
    sign_in = get_object_or_404(helpdesk_sign_ins(request.user), code=code)
    if sign_in.finish(SignIn.Status.CANCELLED, f"Cancelled by {request.user}."):
        audit.record(
            "sign_in.cancelled",
            request=request,
            on_behalf_of=sign_in.expected_label,
            target=str(sign_in.code),
            tenant_id=signins.tenant_guid(sign_in.tenant),
        )
    return redirect("helpdesk:sign-in", code=sign_in.code)
