"""Admin console: the tenants the portal protects, and "Connect a tenant".

Connect: a global admin types a domain or tenant id; the portal resolves it through the
cloud's OpenID discovery document and shows Entra's admin-consent URL; the tenant's admin
consents in the browser and Entra sends them back here (`consent`), where **Verify**
reads what was granted and shows, per workload and operation, works / missing / not
enabled. The rules live in authflow/tenants.py and restore/jobs/tenants.py.
"""

from __future__ import annotations

import secrets

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from authflow import principals, tenants
from authflow.access import role_required
from authflow.flows import FlowError
from authflow.models import Role, Tenant
from console.tenancy import is_global, require_global, visible_tenants
from portal import audit
from portal.graph import GraphError
from portal.http import PortalRequest
from restore.jobs import tenants as removal

SESSION_KEY = "console:tenant-consent"


@require_GET
@role_required(Role.ADMIN)
def tenant_list(request: PortalRequest) -> HttpResponse:
    tenants.note_credentials()  # "credentials missing: NAME not set" shows at once
    return render(
        request,
        "console/tenants.html",
        {"tenants": visible_tenants(request), "can_connect": is_global(request)},
    )


@require_POST
@role_required(Role.ADMIN)
def tenant_add(request: PortalRequest) -> HttpResponse:
    require_global(request)
    try:
        tenant = tenants.add(
            request.POST.get("tenant", "")[:300],
            display_name=request.POST.get("display_name", "").strip(),
            client_id=request.POST.get("client_id", "").strip()[:64],
            credentials_ref=request.POST.get("credentials_ref", "").strip()[:200],
            by=request.user,
            request=request,
        )
    except tenants.TenantError as error:
        messages.error(request, str(error))
        return redirect("console:tenants")
    messages.success(request, f"{tenant} added: its admin consents next.")
    return redirect("console:tenant", tenant_id=tenant.tenant_id)


def _tenant(request: PortalRequest, tenant_id: object) -> Tenant:
    return get_object_or_404(visible_tenants(request), tenant_id=tenant_id)


@require_GET
@role_required(Role.ADMIN)
def tenant_detail(request: PortalRequest, tenant_id: object) -> HttpResponse:
    tenant = _tenant(request, tenant_id)
    state = secrets.token_urlsafe(24)
    pending = request.session.get(SESSION_KEY, {})
    pending[state] = str(tenant.tenant_id)
    request.session[SESSION_KEY] = dict(list(pending.items())[-5:])
    results = tenant.verification.get("results", [])
    try:
        consent_url, consent_problem = tenants.consent_url(tenant, state), ""
    except tenants.TenantError as error:
        consent_url, consent_problem = "", str(error)
    return render(
        request,
        "console/tenant.html",
        {
            "tenant": tenant,
            "consent_url": consent_url,
            "consent_problem": consent_problem,
            "results": [r for r in results if r["status"] != "not_enabled"],
            "not_enabled": [r for r in results if r["status"] == "not_enabled"],
            "can_remove": is_global(request),
        },
    )


@require_GET
@role_required(Role.ADMIN)
def consent_return(request: PortalRequest) -> HttpResponse:
    """Where Entra sends the admin after the consent screen (or a refusal)."""
    pending = request.session.get(SESSION_KEY, {})
    tenant_id = pending.pop(request.GET.get("state", ""), None)
    request.session[SESSION_KEY] = pending
    if tenant_id is None:
        messages.error(request, "This consent answer was not asked for here; start again.")
        return redirect("console:tenants")
    tenant = _tenant(request, tenant_id)
    if request.GET.get("error"):
        description = request.GET.get("error_description", "")[:300]
        audit.record(
            "tenant.consent",
            request=request,
            outcome="failure",
            target=str(tenant.tenant_id),
            tenant_id=tenant.tenant_id,
            details={"error": request.GET["error"][:64], "description": description},
        )
        messages.error(request, f"The tenant's admin did not consent: {description}")
        return redirect("console:tenant", tenant_id=tenant.tenant_id)
    if request.GET.get("admin_consent") != "True" or request.GET.get("tenant") != str(
        tenant.tenant_id
    ):
        messages.error(request, "Microsoft's answer names another tenant; start again.")
        return redirect("console:tenant", tenant_id=tenant.tenant_id)
    audit.record(
        "tenant.consent",
        request=request,
        target=str(tenant.tenant_id),
        tenant_id=tenant.tenant_id,
    )
    return _verify(request, tenant)


@require_POST
@role_required(Role.ADMIN)
def tenant_verify(request: PortalRequest, tenant_id: object) -> HttpResponse:
    return _verify(request, _tenant(request, tenant_id))


def _verify(request: PortalRequest, tenant: Tenant) -> HttpResponse:
    try:
        results = tenants.verify(tenant, by=request.user)
    except tenants.TenantError as error:
        messages.error(request, str(error))
        return redirect("console:tenant", tenant_id=tenant.tenant_id)
    missing = tenants.blocking(results)
    if missing:
        messages.warning(
            request,
            "Verified: "
            + "; ".join(f"{c.label} needs {', '.join(c.missing)}" for c in missing)
            + ".",
        )
    else:
        messages.success(request, "Verified: every enabled workload works.")
    return redirect("console:tenant", tenant_id=tenant.tenant_id)


@require_POST
@role_required(Role.ADMIN)
def tenant_remove(request: PortalRequest, tenant_id: object) -> HttpResponse:
    require_global(request)
    tenant = _tenant(request, tenant_id)
    try:
        removal.remove(
            tenant,
            cancel_jobs=request.POST.get("cancel_jobs") == "on",
            by=request.user,
            request=request,
        )
    except tenants.TenantError as error:
        messages.error(request, str(error))
        return redirect("console:tenant", tenant_id=tenant.tenant_id)
    messages.success(request, f"{tenant} removed: its backups stay, no new ones are taken.")
    return redirect("console:tenants")


@require_POST
@role_required(Role.ADMIN)
def tenant_backup_account(request: PortalRequest, tenant_id: object) -> HttpResponse:
    """Set or clear the tenant's dedicated backup account (restore/backup/delegation.py)."""
    tenant = _tenant(request, tenant_id)
    try:
        kept = principals.set_backup_account(
            tenant, request.POST.get("backup_account", "")[:320], by=request.user, request=request
        )
    except (principals.PrincipalNotFound, GraphError, FlowError) as error:
        messages.error(request, f"The backup account was not changed: {error}")
    else:
        messages.success(
            request, f"Backup account: {kept}." if kept else "No backup account any more."
        )
    return redirect("console:tenant", tenant_id=tenant.tenant_id)


@require_http_methods(["GET", "POST"])
@role_required(Role.ADMIN)
def tenant_protect(request: PortalRequest, tenant_id: object) -> HttpResponse:
    """What to protect: everyone, or the users and groups selected; exclusions win."""
    tenant = _tenant(request, tenant_id)
    if request.method == "POST":
        try:
            tenants.set_protection(
                tenant,
                mode=request.POST.get("mode", ""),
                include=request.POST.getlist("include"),
                exclude=request.POST.getlist("exclude"),
                by=request.user,
                request=request,
            )
        except tenants.TenantError as error:
            messages.error(request, str(error))
            return redirect("console:tenant-protect", tenant_id=tenant.tenant_id)
        messages.success(request, "Saved: the next discovery applies it.")
        return redirect("console:tenant", tenant_id=tenant.tenant_id)
    try:
        entries = tenants.directory(tenant)
        problem = ""
    except tenants.TenantError as error:
        entries, problem = [], str(error)
    protection = tenant.protection or {}
    return render(
        request,
        "console/tenant_protect.html",
        {
            "tenant": tenant,
            "entries": entries,
            "problem": problem,
            "mode": protection.get("mode", "all"),
            "included": {e["id"] for e in protection.get("include", [])},
            "excluded": {e["id"] for e in protection.get("exclude", [])},
        },
    )
