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

from celery import current_app
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


Family = GaugeMetricFamily | CounterMetricFamily


class DatabaseCollector(Collector):
    """A collector of gauges read from the database at scrape time. Subclasses yield their
    families from `gauges()`; a failing database never fails the scrape. The apps above
    portal subclass it for their own state (restore/metrics.py, authflow/metrics.py)."""

    def describe(self) -> list[Family]:
        return []  # registering must not query the database

    def collect(self) -> Iterator[Family]:
        try:
            yield from self.gauges()
        except Exception as exc:  # a scrape must answer even when the database does not
            logger.warning("Metrics from the database failed: %s", type(exc).__name__)

    def gauges(self) -> Iterator[Family]:
        raise NotImplementedError


class StateCollector(Collector):
    """Gauges of the deployment computed when Prometheus scrapes: live workers and queue
    lengths. The apps above portal register collectors of their own state the same way
    (restore/metrics.py, authflow/metrics.py), so portal imports none of them."""

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # registering must not query the database

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        try:
            yield from self._workers()
        except Exception as exc:  # a scrape must answer even when the database does not
            logger.warning("Metrics from the database failed: %s", type(exc).__name__)
        try:
            yield from self._queues()
        except Exception as exc:
            logger.warning("Metrics from the broker failed: %s", type(exc).__name__)

    def _workers(self) -> Iterator[GaugeMetricFamily]:
        from portal import health

        alive = GaugeMetricFamily(
            "lifeboat_workers_alive", "Celery workers with a recent heartbeat."
        )
        alive.add_metric([], len(health.live_workers()))
        yield alive

    def _queues(self) -> Iterator[GaugeMetricFamily]:
        app = current_app  # the portal's Celery app (portal/celery.py), without a cycle

        length = GaugeMetricFamily(
            "lifeboat_celery_queue_length", "Messages waiting in a Celery queue.", labels=["queue"]
        )
        with app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
            channel = connection.default_channel
            for queue in app.amqp.queues:
                # kombu's virtual transports (Redis, SQLAlchemy) count a queue's messages
                # with _size; a passive declare fails for a queue no worker bound yet.
                # _size is kombu's virtual-channel API, absent from the abstract StdChannel.
                length.add_metric([queue], channel._size(queue))  # type: ignore[attr-defined]
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
