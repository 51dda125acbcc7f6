"""Admin console: the tenants the portal protects, their status and last verification."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from authflow.access import role_required
from authflow.models import Role
from console.tenancy import is_global, visible_tenants
from portal.http import PortalRequest


@require_GET
@role_required(Role.ADMIN)
def tenant_list(request: PortalRequest) -> HttpResponse:
    return render(
        request,
        "console/tenants.html",
        {"tenants": visible_tenants(request), "can_connect": is_global(request)},
    )
