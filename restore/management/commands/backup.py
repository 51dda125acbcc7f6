"""`python manage.py backup [--all | OBJECT] [--workload WORKLOAD] [--full]`: back up now
(WORKLOAD: mail, onedrive, calendar or contacts)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q, QuerySet

from authflow import tenants
from restore.backup import discovery, runner
from restore.models import ProtectedObject, RestorePoint, Workload


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def lookup(ref: str) -> QuerySet[ProtectedObject]:
    """Objects named by id, UPN, group name or address, or drive id."""
    if ref.isdigit():
        return ProtectedObject.objects.filter(pk=int(ref))
    return ProtectedObject.objects.filter(
        Q(address__iexact=ref) | Q(name__iexact=ref) | Q(graph_ref=ref)
    )


class Command(BaseCommand):
    help = (
        "Back up protected objects now: every enabled one (--all, after finding new "
        "mailboxes and drives), or one given by id, UPN, group name or address."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("object", nargs="?", help="object id, UPN, group name or address")
        parser.add_argument("--all", action="store_true", help="every enabled object")
        parser.add_argument("--workload", choices=Workload.values, help="only this workload")
        parser.add_argument(
            "--full",
            action="store_true",
            help="read everything again, ignoring delta links, and fetch again content the "
            "blob store no longer holds",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if bool(options["all"]) == bool(options["object"]):
            raise CommandError("Give either --all or one OBJECT (id, UPN or group name).")
        self.discovery_failed: list[str] = []
        objects = self._objects(options["object"], options["workload"], options["all"])
        failed = 0
        for obj in objects:
            failed += not self._back_up(obj, options["full"])
        if failed:
            raise CommandError(f"{failed} of {len(objects)} backup(s) failed.")
        if options["all"] and self.discovery_failed:  # the others were backed up; say so
            raise CommandError(
                "Could not list the mailboxes and drives of tenant(s) "
                + ", ".join(self.discovery_failed)
                + " (above); the objects already known were backed up."
            )

    def _objects(
        self, ref: str | None, workload: str | None, everything: bool
    ) -> list[ProtectedObject]:
        if everything:
            self._discover()
            found = ProtectedObject.objects.filter(enabled=True, tenant_id__in=tenants.active_ids())
        else:
            found = self._lookup(str(ref))
            if not found.exists():  # perhaps new since the last discovery
                self._discover()
                found = self._lookup(str(ref))
        if workload:
            found = found.filter(workload=workload)
        objects = list(found.order_by("name", "workload", "pk"))
        if not objects:
            what = f"{workload} object" if workload else "protected object"
            raise CommandError(f"No {what} matches {ref!r}." if ref else "Nothing to back up.")
        return objects

    @staticmethod
    def _lookup(ref: str) -> QuerySet[ProtectedObject]:
        return lookup(ref)

    def _discover(self) -> None:
        failed = {
            tenant_id: error
            for tenant_id, error in discovery.discover_all().items()
            if isinstance(error, Exception)
        }
        for tenant_id, error in failed.items():
            self.stderr.write(
                f"Could not list the tenant's mailboxes and drives (tenant {tenant_id}): {error}"
            )
        self.discovery_failed = list(failed)
        if failed and len(failed) == len(tenants.active_ids()):
            raise CommandError(
                "Could not list the tenant's mailboxes and drives: "
                + "; ".join(str(error) for error in failed.values())
            )

    def _back_up(self, obj: ProtectedObject, full: bool) -> bool:
        try:
            outcome = runner.run(obj, full=full)
        except runner.AlreadyRunning:
            self.stdout.write(f"{obj}: a backup is already running; skipped.")
            return True
        point = outcome.point
        if point.status == RestorePoint.Status.FAILED:
            self.stdout.write(
                self.style.ERROR(f"{obj}: restore point {point.seq} FAILED: {point.error}")
            )
            return False
        if point.status == RestorePoint.Status.WAITING:  # goes on once someone signs in
            self.stdout.write(self.style.WARNING(f"{obj}: restore point {point.seq} {point.error}"))
            for line in point.log.splitlines()[-3:]:
                self.stdout.write(f"  {line.partition(' ')[2].partition(' ')[2]}")
            return True
        self.stdout.write(
            f"{obj}: restore point {point.seq} — {point.items_added} added, "
            f"{point.items_changed} changed, {point.items_removed} removed, "
            f"{human_bytes(point.bytes_stored)} stored, {outcome.seconds:.2f} s"
        )
        return True
