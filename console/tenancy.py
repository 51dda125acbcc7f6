"""Which tenants the signed-in admin may see: every console page filters through here.

A global admin (Role.ADMIN, no tenant grant) sees every tenant; a tenant admin only the
tenants granted (authflow.access.tenant_ids_of). Another tenant's row is a 404, exactly as
if it did not exist.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model, Q, QuerySet
from django.http import Http404

from authflow import tenants
from authflow.access import sees_tenant, tenant_ids_of
from authflow.models import Tenant
from portal.http import PortalRequest


def scoped[M: Model](request: PortalRequest, rows: QuerySet[M], field: str) -> QuerySet[M]:
    """`rows` limited to the tenants the admin sees (`field` holds the tenant's GUID)."""
    allowed = tenant_ids_of(request.user)
    if allowed is None:
        return rows
    return rows.filter(**{f"{field}__in": allowed})


def visible_tenants(request: PortalRequest) -> QuerySet[Tenant]:
    return scoped(request, tenants.all_tenants(), "tenant_id")


def is_global(request: PortalRequest) -> bool:
    return tenant_ids_of(request.user) is None


def require_global(request: PortalRequest) -> None:
    """Pages about the whole portal (workers, the backup store's settings): 404 for a
    tenant admin."""
    if not is_global(request):
        raise Http404("No such page.")


def require_tenant(request: PortalRequest, tenant_id: Any) -> None:
    if tenant_id is None or not sees_tenant(request.user, tenant_id):
        raise Http404("No such tenant.")


def tenant_filter(request: PortalRequest, field: str) -> Q:
    allowed = tenant_ids_of(request.user)
    return Q() if allowed is None else Q(**{f"{field}__in": allowed})
