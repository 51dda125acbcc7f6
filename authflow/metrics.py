"""Prometheus gauges of pending sign-ins and the poller's lag, computed from the database
at scrape time (served by portal's /metrics)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.db.models import Min
from django.utils import timezone
from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from authflow.models import SignIn

logger = logging.getLogger(__name__)


class SignInCollector(Collector):
    def describe(self) -> list[GaugeMetricFamily]:
        return []  # registering must not query the database

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        try:
            yield from self._gauges()
        except Exception as exc:  # a scrape must answer even when the database does not
            logger.warning("Metrics from the database failed: %s", type(exc).__name__)

    def _gauges(self) -> Iterator[GaugeMetricFamily]:

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


def register() -> None:
    """Called once by the app's AppConfig.ready."""
    REGISTRY.register(SignInCollector())
