"""Admin console: the backup store's health and the items whose content has a problem."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from authflow.access import role_required
from authflow.models import Role
from console.tenancy import is_global, scoped
from portal.http import PortalRequest
from restore.catalog import content
from restore.models import Item

SHOWN = 200


@require_GET
@role_required(Role.ADMIN)
def backup_store(request: PortalRequest) -> HttpResponse:
    # The store's totals are the whole portal's: a tenant admin sees their items only.
    found = content.summary() if is_global(request) else None
    problems = (
        scoped(request, Item.objects.all(), "object__tenant_id")
        .exclude(content_status="")
        .select_related("object", "folder")
        .order_by("content_status", "object__name", "name")[:SHOWN]
    )
    return render(
        request,
        "console/backup_store.html",
        {
            "summary": found,
            "problems": problems,
            "shown": SHOWN,
            "store": content.store_label(),
            "slices": settings.BLOB_VERIFY_SLICES,
        },
    )
