"""Prometheus gauges of restore jobs, backups and the backed-up content, computed from the
database (and a probe of the blob store) at scrape time (served by portal's /metrics)."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count
from django.utils import timezone
from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from portal.metrics import DatabaseCollector
from restore.catalog import content
from restore.models import ProtectedObject, RestoreJob, RestoreJobItem, RestorePoint


class RestoreStateCollector(DatabaseCollector):
    def gauges(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        yield from self._restore_jobs()
        yield from self._backups()
        yield from self._content()

    def _restore_jobs(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:

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
        waiting = GaugeMetricFamily(
            "lifeboat_backup_runs_waiting_for_sign_in",
            "Backups that need a person's sign-in (group calendars) and wait for one.",
        )
        waiting.add_metric(
            [], RestorePoint.objects.filter(status=RestorePoint.Status.WAITING).count()
        )
        yield waiting

    def _content(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        found = content.summary()
        items = GaugeMetricFamily(
            "lifeboat_content_problem_items",
            "Backed-up items whose content is missing, corrupt or lost (verify_blobs and the "
            "daily sample check).",
            labels=["status"],
        )
        items.add_metric(["missing"], found.missing)
        items.add_metric(["corrupt"], found.corrupt)
        items.add_metric(["lost"], found.lost)
        yield items
        yield GaugeMetricFamily(
            "lifeboat_blob_store_up",
            "1 when the blob store answers and takes writes, else 0.",
            value=0 if found.store_problem else 1,
        )


def register() -> None:
    """Called once by the app's AppConfig.ready."""
    REGISTRY.register(RestoreStateCollector())
