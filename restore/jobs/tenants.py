"""Removing a tenant: refused while its restore jobs run, unless they are cancelled.

Its protected objects are disabled (no more backups) and its backups stay where they
are; connecting the tenant again enables nothing by itself (the next discovery does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

from authflow.models import Tenant
from authflow.tenants import TenantError
from portal import audit
from restore.jobs import lifecycle
from restore.models import ProtectedObject, RestoreJob

if TYPE_CHECKING:
    from django.http import HttpRequest

    from authflow.models import User


def unfinished_jobs(tenant: Tenant) -> list[RestoreJob]:
    return list(
        RestoreJob.objects.select_related("object")
        .filter(object__tenant_id=tenant.tenant_id)
        .exclude(status__in=RestoreJob.FINISHED)
    )


def remove(
    tenant: Tenant,
    *,
    cancel_jobs: bool = False,
    by: User | None = None,
    request: HttpRequest | None = None,
) -> int:
    """Remove `tenant`; returns how many jobs were cancelled. Raises TenantError (and
    changes nothing) while restore jobs of the tenant have not finished, unless
    `cancel_jobs`."""
    jobs = unfinished_jobs(tenant)
    if jobs and not cancel_jobs:
        raise TenantError(
            f"{len(jobs)} restore job(s) of {tenant} have not finished "
            f"({', '.join(str(job.id) for job in jobs[:5])}): wait for them to end, or "
            "cancel them (--cancel-jobs, or tick “cancel its restore jobs”)."
        )
    with transaction.atomic():
        for job in jobs:
            lifecycle.cancel(job, by=by, request=request)
        disabled = ProtectedObject.objects.filter(tenant_id=tenant.tenant_id).update(enabled=False)
        audit.record(
            "tenant.removed",
            request=request,
            actor=by,
            target=str(tenant.tenant_id),
            tenant_id=tenant.tenant_id,
            details={"cancelled_jobs": len(jobs), "objects_disabled": disabled},
        )
        tenant.delete()
    return len(jobs)
