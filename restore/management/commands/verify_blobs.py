"""`manage.py verify_blobs [--object OBJECT] [--repair]`: is the backed-up content intact?

Exit status: 0 every blob is there and intact (or was repaired); 1 content is missing,
corrupt or lost; 2 the blob store could not be read (nothing was marked).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from restore.blobs import BlobStoreUnavailable
from restore.catalog import content
from restore.management.commands.backup import lookup
from restore.models import Item


class Command(BaseCommand):
    help = (
        "Check that every blob the catalog references exists and matches its address; "
        "--repair fetches again what Microsoft 365 still holds and marks the rest as lost."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--object", help="only this object (id, UPN, group name, address)")
        parser.add_argument(
            "--repair",
            action="store_true",
            help="fetch missing or corrupt content again from Microsoft 365 where the item is "
            "unchanged there; mark the rest as content lost",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        objects = None
        if options["object"]:
            objects = lookup(options["object"])
            if not objects.exists():
                raise CommandError(f"No protected object matches {options['object']!r}.")
        try:
            report = content.verify(content.addresses(objects))
            if options["repair"] and report.findings:
                content.repair(report)
        except BlobStoreUnavailable as error:
            raise CommandError(
                f"The blob store could not be read ({error}); nothing was marked.", returncode=2
            ) from None
        for finding in report.findings:
            items = Item.objects.filter(
                object__tenant_id=finding.tenant, content_sha256=finding.address
            ).select_related("object")
            names = ", ".join(f"“{i.name}” ({i.object})" for i in items[:3])
            more = f" and {items.count() - 3} more" if items.count() > 3 else ""
            self.stdout.write(f"{finding.status:8} {finding.address[:16]}…  {names}{more}")
        for reason in report.unrepaired:
            self.stdout.write(f"not repaired: {reason}")
        problems = len(report.findings)
        line = f"Checked {report.checked} blob(s): {problems} missing or corrupt."
        if options["repair"] and problems:
            line += f" Repaired {report.repaired}; marked {report.lost} as content lost."
        if not problems:
            self.stdout.write(self.style.SUCCESS(line))
            return
        if options["repair"] and report.repaired == problems:
            self.stdout.write(self.style.SUCCESS(line))
            return
        self.stdout.write(self.style.ERROR(line))
        raise CommandError("Content is missing, corrupt or lost; see above.", returncode=1)
