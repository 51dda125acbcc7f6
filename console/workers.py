"""Admin → Workers: the deployment's checks, each live worker's last heartbeat, and
which beat sends the periodic tasks (the same facts as /healthz, for people)."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from authflow.access import role_required
from authflow.models import Role
from console.tenancy import require_global
from portal import health
from portal.http import PortalRequest
from portal.models import BeatLock


@require_GET
@role_required(Role.ADMIN)
def workers(request: PortalRequest) -> HttpResponse:
    require_global(request)
    state, checks = health.run(health.CHECKS)
    lock = BeatLock.objects.filter(name="beat", expires_at__gt=timezone.now()).first()
    return render(
        request,
        "console/workers.html",
        {
            "state": state,
            "checks": [
                (name, result["status"], result.get("detail") or result.get("error", ""))
                for name, result in checks.items()
                if name != "workers"
            ],
            "workers": checks.get("workers", {}).get("workers", []),
            "beat": lock,
        },
    )
