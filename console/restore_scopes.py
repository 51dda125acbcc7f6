"""Admin console pages for restore-operator scopes: who may restore for which users or groups.

Like Veeam's restore operator roles: an admin lets a helpdesk person (or every member of
an Entra group) restore the backups of some users or groups. Both sides are looked up in
Graph with the portal's application permissions, so a grant always names real, current
principals. A change expires the restore sessions it affects so it applies at once.
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from authflow import accounts, principals, tokens
from authflow.access import role_required
from authflow.models import Role
from console.tenancy import scoped, visible_tenants
from portal import audit
from portal.graph import GraphError
from portal.http import PortalRequest
from restore.models import OperatorScope
from restore.scope import expire_sessions


def _tenant_for(request: PortalRequest) -> str | None:
    """Where to look up the grant's principals: the tenant chosen on the form (one the
    admin sees), else the admin's own tenant if they see it, else the first they see.
    None when they see no connected tenant."""
    visible = visible_tenants(request)
    chosen = request.POST.get("tenant", "").strip()
    if chosen:
        found = visible.filter(tenant_id=chosen).first() if _is_guid(chosen) else None
        return str(found.tenant_id) if found else None
    own = request.user.tenant_id
    if own and visible.filter(tenant_id=own).exists():
        return str(own)
    first = visible.first()
    return str(first.tenant_id) if first else None


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@require_GET
@role_required(Role.ADMIN)
def scope_list(request: PortalRequest) -> HttpResponse:
    grants = scoped(
        request,
        OperatorScope.objects.select_related("created_by").order_by(
            "grantee_name", "principal_name"
        ),
        "tenant_id",
    )
    return render(
        request,
        "console/restore_scopes.html",
        {"grants": grants, "tenants": visible_tenants(request)},
    )


@require_POST
@role_required(Role.ADMIN)
def scope_add(request: PortalRequest) -> HttpResponse:
    grantee_text = request.POST.get("grantee", "").strip()[:320]
    principal_text = request.POST.get("principal", "").strip()[:320]
    tenant = _tenant_for(request)
    if tenant is None:
        messages.error(request, "Choose one of the tenants you administer.")
        return redirect("console:restore-scopes")
    try:
        grantee = principals.resolve(grantee_text, tenant_id=tenant)
        principal = principals.resolve(principal_text, tenant_id=tenant)
    except principals.PrincipalNotFound as error:
        messages.error(request, str(error))
        return redirect("console:restore-scopes")
    except (GraphError, tokens.TokensUnavailable):
        messages.error(request, "Microsoft 365 could not be asked just now; try again shortly.")
        return redirect("console:restore-scopes")
    is_group = isinstance(principal, principals.ExpectedGroup)
    if isinstance(principal, principals.ExpectedGroup):
        principal_id, principal_name = principal.id, principal.display_name
    else:
        principal_id, principal_name = principal.oid, principal.upn
    with transaction.atomic():
        grant = OperatorScope(
            tenant_id=uuid.UUID(principal.tenant_id),
            grantee_name=grantee.upn
            if isinstance(grantee, principals.ExpectedUser)
            else grantee.display_name,
            principal_kind=OperatorScope.PrincipalKind.GROUP
            if is_group
            else OperatorScope.PrincipalKind.USER,
            principal_id=uuid.UUID(principal_id),
            principal_name=principal_name,
            # The admin's policy: restores into these people's mailboxes and drives need
            # not wait for their answer (restore/jobs/consent.py).
            restore_without_asking=request.POST.get("without_asking") == "on",
            created_by=request.user,
        )
        if isinstance(grantee, principals.ExpectedUser):
            grant.grantee_user = accounts.user_for_expected(grantee)
        else:
            grant.grantee_group_id = uuid.UUID(grantee.id)
        grant.save()
        expire_sessions(grant)
        audit.record(
            "restore_scope.granted",
            request=request,
            tenant_id=grant.tenant_id,
            target=str(grant),
            details={
                "grantee": grant.grantee_name,
                "principal": grant.principal_name,
                "without_asking": grant.restore_without_asking,
            },
        )
    messages.success(request, f"{grant}.")
    return redirect("console:restore-scopes")


@require_POST
@role_required(Role.ADMIN)
def scope_delete(request: PortalRequest, grant_id: int) -> HttpResponse:
    grants = scoped(request, OperatorScope.objects.all(), "tenant_id")
    grant = get_object_or_404(grants, pk=grant_id)
    with transaction.atomic():
        expire_sessions(grant)
        audit.record(
            "restore_scope.removed",
            request=request,
            tenant_id=grant.tenant_id,
            target=str(grant),
            details={"grantee": grant.grantee_name, "principal": grant.principal_name},
        )
        grant.delete()
    messages.success(request, f"Removed: {grant}.")
    return redirect("console:restore-scopes")
