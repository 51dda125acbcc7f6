from __future__ import annotations

from django.db import models
from django.utils import timezone


class WorkerHeartbeat(models.Model):
    """Each live Celery worker's last heartbeat (portal/health.py; shown by /healthz).

    Every worker writes its own row on its own timer and deletes it when it stops warmly;
    a row older than WORKER_STALE_SECONDS is a dead worker's and is dropped.
    """

    hostname = models.CharField(max_length=255, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.hostname} at {self.seen_at:%Y-%m-%d %H:%M:%S}"


class AuditEvent(models.Model):
    """One line of the append-only audit log (see portal/audit.py)."""

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"
        DENIED = "denied", "Denied"

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=64, db_index=True)
    outcome = models.CharField(max_length=16, choices=Outcome, default=Outcome.SUCCESS)
    # Who did it: the identity (userId.tenantId) and its UPN at the time; empty = system.
    actor_identity = models.CharField(max_length=80, blank=True, db_index=True)
    actor_label = models.CharField(max_length=320)
    # Whose data or account it concerned, when not the actor's own (identity or UPN).
    on_behalf_of = models.CharField(max_length=320, blank=True, db_index=True)
    target = models.CharField(max_length=500, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    correlation_id = models.CharField(max_length=64, db_index=True)
    details = models.JSONField(default=dict, blank=True)
    # Which organisation it concerned (tenant admins see only theirs); NULL = the portal's.
    tenant_id = models.UUIDField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["action", "occurred_at"])]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.action} by {self.actor_label}"


class BeatLock(models.Model):
    """Which celery beat sends the periodic tasks (portal/beat.py): one row, held until
    `expires_at` and renewed by its holder; another beat waits as a standby."""

    name = models.CharField(max_length=32, primary_key=True)
    holder = models.CharField(max_length=200)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder} until {self.expires_at:%H:%M:%S}"


class BeatRun(models.Model):
    """When each periodic task was last sent, shared by every beat, so one taking over
    sends nothing that the previous one already sent this period."""

    name = models.CharField(max_length=200, primary_key=True)
    last_run_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} last sent {self.last_run_at:%Y-%m-%d %H:%M:%S}"
