"""Health of the deployment: named checks, and each Celery worker's own heartbeat.

A check is a function returning a `Check` (ok / degraded / down, a short detail that
never holds an address or a secret, optional extra fields). `CHECKS` lists them in the
order /healthz shows them; adding a check is one line there. Apps above portal (which
portal imports none of) add theirs from their AppConfig.ready with `register`: restore's
blob store and content check (restore/catalog/content.py) can only make /healthz degraded.

/readyz asks only `READINESS` (can this web process serve requests?), /livez nothing (is
the process up?), /healthz everything (is the deployment doing its work?).

Worker liveness: every worker records its own heartbeat on Celery's timer
(`start_heartbeats`, connected in portal/celery.py) every WORKER_HEARTBEAT_SECONDS, and
removes its row when it shuts down warmly. A worker silent for WORKER_STALE_SECONDS
(killed, hung, cut off from the database) is dead: no longer listed, and its row goes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from django.conf import settings
from django.db import connection
from django.utils import timezone
from kombu import Connection

logger = logging.getLogger(__name__)

State = Literal["ok", "degraded", "down"]


@dataclass
class Check:
    state: State
    detail: str = ""
    fields: dict[str, Any] = field(default_factory=dict)

    def as_json(self, latency_ms: float) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.state, "ok": self.state != "down"}
        if self.detail:
            body["detail"] = self.detail
        body["latency_ms"] = latency_ms
        return body | self.fields


def database() -> Check:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return Check("ok")


def broker() -> Check:
    url = settings.CELERY_BROKER_URL
    options = dict(settings.CELERY_BROKER_TRANSPORT_OPTIONS)
    if url.startswith(("redis", "rediss", "unix")):
        options |= {"socket_connect_timeout": 2, "socket_timeout": 2, "max_retries": 0}
    with Connection(url, connect_timeout=2, transport_options=options) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=2)
        # Opening a channel makes the transport talk to the server (Redis PINGs).
        conn.default_channel  # noqa: B018
    return Check("ok")


def workers() -> Check:
    alive = live_workers()
    listed = [
        {
            "hostname": beat.hostname,
            "last_heartbeat": beat.seen_at.isoformat(),
            "seconds_ago": round((timezone.now() - beat.seen_at).total_seconds(), 1),
        }
        for beat in alive
    ]
    if not alive:
        return Check("down", "no worker has sent a heartbeat lately", {"workers": []})
    return Check("ok", f"{len(alive)} alive", {"workers": listed})


# (name, check): the order /healthz reports them in.
CHECKS: list[tuple[str, Callable[[], Check]]] = [
    ("database", database),
    ("broker", broker),
    ("workers", workers),
]
READINESS: list[tuple[str, Callable[[], Check]]] = [("database", database), ("broker", broker)]


def register(name: str, check: Callable[[], Check]) -> None:
    """Add an app's check to /healthz (once). It can make the deployment degraded, never
    down: a registered check that raises, or answers "down", is reported as degraded."""
    if any(existing == name for existing, _ in CHECKS):
        return

    def at_most_degraded() -> Check:
        try:
            outcome = check()
        except Exception as exc:  # reported like any failing check, but degraded
            logger.warning("Health check %s failed: %s", name, type(exc).__name__)
            return Check("degraded", fields={"error": type(exc).__name__})
        if outcome.state == "down":
            outcome.state = "degraded"
        return outcome

    CHECKS.append((name, at_most_degraded))


def run(checks: list[tuple[str, Callable[[], Check]]]) -> tuple[State, dict[str, Any]]:
    """Run the checks; the overall state is the worst of them. A check that raises is
    down, reported by the exception's type only (its message may hold an address)."""
    results: dict[str, Any] = {}
    worst: State = "ok"
    for name, check in checks:
        started = time.monotonic()
        try:
            outcome = check()
        except Exception as exc:  # a health check reports every failure, whatever its type
            logger.warning("Health check %s failed: %s", name, type(exc).__name__)
            outcome = Check("down", fields={"error": type(exc).__name__})
        results[name] = outcome.as_json(round((time.monotonic() - started) * 1000, 1))
        if outcome.state == "down" or (outcome.state == "degraded" and worst == "ok"):
            worst = outcome.state
    return worst, results


# --- Worker heartbeats -------------------------------------------------------------------


def live_workers() -> list[Any]:
    """Workers whose last heartbeat is recent, newest first; forgets the dead ones."""
    from portal.models import WorkerHeartbeat

    cutoff = timezone.now() - timedelta(seconds=settings.WORKER_STALE_SECONDS)
    WorkerHeartbeat.objects.filter(seen_at__lt=cutoff).delete()
    return list(WorkerHeartbeat.objects.filter(seen_at__gte=cutoff).order_by("-seen_at"))


def record_heartbeat(hostname: str) -> None:
    from django.db import close_old_connections

    from portal.models import WorkerHeartbeat

    close_old_connections()  # the timer thread's connection may have gone stale
    try:
        WorkerHeartbeat.objects.update_or_create(
            hostname=hostname, defaults={"seen_at": timezone.now()}
        )
    except Exception as exc:  # the next beat tries again; a dead database shows in healthz
        logger.warning(
            "Worker %s cannot reach the database to record its heartbeat (%s); retrying in %s s",
            hostname,
            type(exc).__name__,
            settings.WORKER_HEARTBEAT_SECONDS,
        )


def forget_worker(hostname: str) -> None:
    from portal.models import WorkerHeartbeat

    try:
        WorkerHeartbeat.objects.filter(hostname=hostname).delete()
    except Exception as exc:
        logger.warning("Removing the worker heartbeat failed: %s", type(exc).__name__)


def start_heartbeats(consumer: Any) -> None:
    """On worker_ready: beat now, then every WORKER_HEARTBEAT_SECONDS on Celery's timer
    (the worker's own event loop, so a hung worker stops beating)."""
    hostname = consumer.hostname
    record_heartbeat(hostname)
    consumer.timer.call_repeatedly(
        settings.WORKER_HEARTBEAT_SECONDS, record_heartbeat, (hostname,), priority=10
    )
    logger.info(
        "Worker %s records its heartbeat every %s s", hostname, settings.WORKER_HEARTBEAT_SECONDS
    )
