from __future__ import annotations

from celery import shared_task
from celery.app.task import Task
from django.utils import timezone

from portal.models import WorkerHeartbeat


@shared_task(bind=True)
def heartbeat(self: Task) -> None:
    """Record that this worker is alive and consuming (scheduled by beat)."""
    WorkerHeartbeat.objects.update_or_create(
        hostname=self.request.hostname or "unknown", defaults={"seen_at": timezone.now()}
    )
