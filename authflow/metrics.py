"""Prometheus gauges of pending sign-ins and the poller's lag, computed from the database
at scrape time (served by portal's /metrics)."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Min
from django.utils import timezone
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily

from authflow.models import SignIn
from portal.metrics import DatabaseCollector


class SignInCollector(DatabaseCollector):
    def gauges(self) -> Iterator[GaugeMetricFamily]:
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
