"""Prometheus metrics: every metric the portal exports is defined here.

Two kinds:

- Counted where they happen (HTTP latency by view, Graph requests by status, token
  refresh failures): prometheus-client metrics on its default REGISTRY, in the process
  that did the work. Gunicorn's workers share one multiprocess directory
  (PROMETHEUS_MULTIPROC_DIR, set by portal/gunicorn_conf.py); Celery workers serve their
  own counters on METRICS_WORKER_PORT when it is set (portal/celery.py).
- Read from the source of truth at scrape time (`StateCollector`): restore jobs by status
  and items restored, backup age per object and failed runs, pending sign-ins and the
  poller's lag, live workers, Celery queue length. Every process agrees on them.

Labels never carry a token, an address or a person's name: object labels are the
object's id and workload.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

HTTP_REQUEST_SECONDS = Histogram(
    "lifeboat_http_request_duration_seconds",
    "Time to answer an HTTP request, by the view that answered.",
    ["view", "method", "status"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
GRAPH_REQUESTS = Counter(
    "lifeboat_microsoft_requests_total",
    "Requests to Microsoft (Graph and Entra), by host and HTTP status (429 = throttled).",
    ["host", "status"],
)
TOKEN_REFRESH_FAILURES = Counter(
    "lifeboat_token_refresh_failures_total",
    "Delegated token refreshes that failed, by Entra's error code.",
    ["error"],
)


def observe_request(view: str, method: str, status: int, seconds: float) -> None:
    HTTP_REQUEST_SECONDS.labels(view=view, method=method, status=str(status)).observe(seconds)


def count_microsoft_request(host: str, status: int | str) -> None:
    GRAPH_REQUESTS.labels(host=host, status=str(status)).inc()


def count_refresh_failure(error: str) -> None:
    TOKEN_REFRESH_FAILURES.labels(error=error[:64]).inc()


class StateCollector(Collector):
    """Gauges computed from the database and the broker when Prometheus scrapes."""

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # registering must not query the database

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        try:
            yield from self._restore_jobs()
            yield from self._backups()
            yield from self._sign_ins()
            yield from self._workers()
        except Exception as exc:  # a scrape must answer even when the database does not
            logger.warning("Metrics from the database failed: %s", type(exc).__name__)
        try:
            yield from self._queues()
        except Exception as exc:
            logger.warning("Metrics from the broker failed: %s", type(exc).__name__)

    def _restore_jobs(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        from django.db.models import Count

        from restore.models import RestoreJob, RestoreJobItem

        jobs = GaugeMetricFamily(
            "lifeboat_restore_jobs", "Restore jobs by status.", labels=["status"]
        )
        counts = dict(RestoreJob.objects.values_list("status").annotate(n=Count("id")).order_by())
        for status in RestoreJob.Status.values:
            jobs.add_metric([status], counts.get(status, 0))
        yield jobs
        items = CounterMetricFamily(
            "lifeboat_restore_items",
            "Items restore jobs finished, by result (rate() gives items per second).",
            labels=["result"],
        )
        finished = dict(
            RestoreJobItem.objects.exclude(status=RestoreJobItem.Status.PENDING)
            .values_list("status")
            .annotate(n=Count("id"))
            .order_by()
        )
        for status in RestoreJobItem.Status.values:
            if status != RestoreJobItem.Status.PENDING:
                items.add_metric([status], finished.get(status, 0))
        yield items

    def _backups(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        from django.utils import timezone

        from restore.models import ProtectedObject, RestorePoint

        now = timezone.now()
        age = GaugeMetricFamily(
            "lifeboat_backup_age_seconds",
            "Seconds since each enabled object's last successful backup.",
            labels=["object", "workload"],
        )
        for pk, workload, last in ProtectedObject.objects.filter(enabled=True).values_list(
            "pk", "workload", "last_backup_at"
        ):
            if last is not None:
                age.add_metric([str(pk), workload], (now - last).total_seconds())
        yield age
        never = GaugeMetricFamily(
            "lifeboat_backup_objects_never_backed_up",
            "Enabled objects without any successful backup yet.",
        )
        never.add_metric(
            [], ProtectedObject.objects.filter(enabled=True, last_backup_at=None).count()
        )
        yield never
        failed = CounterMetricFamily("lifeboat_backup_runs_failed", "Backup runs that failed.")
        failed.add_metric(
            [], RestorePoint.objects.filter(status=RestorePoint.Status.FAILED).count()
        )
        yield failed

    def _sign_ins(self) -> Iterator[GaugeMetricFamily]:
        from django.db.models import Min
        from django.utils import timezone

        from authflow.models import SignIn

        pending = SignIn.objects.filter(status=SignIn.Status.PENDING, expires_at__gt=timezone.now())
        count = GaugeMetricFamily("lifeboat_sign_ins_pending", "Device-code sign-ins waiting.")
        count.add_metric([], pending.count())
        yield count
        lag = GaugeMetricFamily(
            "lifeboat_sign_in_poller_lag_seconds",
            "How late the most overdue pending sign-in's next poll is (0: on schedule).",
        )
        due = pending.aggregate(first=Min("next_poll_at"))["first"]
        lag.add_metric([], max(0.0, (timezone.now() - due).total_seconds()) if due else 0.0)
        yield lag

    def _workers(self) -> Iterator[GaugeMetricFamily]:
        from portal import health

        alive = GaugeMetricFamily(
            "lifeboat_workers_alive", "Celery workers with a recent heartbeat."
        )
        alive.add_metric([], len(health.live_workers()))
        yield alive

    def _queues(self) -> Iterator[GaugeMetricFamily]:
        from portal.celery import app

        length = GaugeMetricFamily(
            "lifeboat_celery_queue_length", "Messages waiting in a Celery queue.", labels=["queue"]
        )
        with app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
            channel = connection.default_channel
            for queue in app.amqp.queues:
                # kombu's virtual transports (Redis, SQLAlchemy) count a queue's messages
                # with _size; a passive declare fails for a queue no worker bound yet.
                length.add_metric([queue], channel._size(queue))
        yield length


REGISTRY.register(StateCollector())


def exposition() -> bytes:
    """The text Prometheus scrapes: this process (or every gunicorn worker) and the state."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        registry.register(StateCollector())
        return generate_latest(registry)
    return generate_latest(REGISTRY)
