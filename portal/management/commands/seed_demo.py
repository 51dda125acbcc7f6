from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from restore.backup import discovery, runner
from restore.models import ProtectedObject, RestorePoint
from sandbox import demo, seed


class Command(BaseCommand):
    help = "Prepare the demo on the sandbox tenant. Safe to run again: it only fills gaps."

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = int(options.get("verbosity", 1))
        if not settings.SANDBOX_ENABLED:
            self.stdout.write("A real tenant is configured (the sandbox is off): nothing to seed.")
            return
        if seed.ensure_seeded():
            self.stdout.write("Seeded the sandbox tenant (contoso.example and fabrikam.example).")
        if not RestorePoint.objects.exists():
            self.backups()
        self.stdout.write(self.style.SUCCESS(
            f"Demo ready. Sign in at {settings.PORTAL_URL} as alice@contoso.example "
            f"(password: {seed.person('alice').password}); the sandbox's accounts are listed at "
            f"{settings.SANDBOX_PUBLIC_URL}/."
        ))  # fmt: skip

    def backups(self) -> None:
        """Two restore points of every mailbox and drive, with changes in between (Alice's
        "Q3 budget — final" is in the first and deleted before the second).

        The web server is not running yet, and the backups reach Microsoft (here: the
        sandbox) over HTTP like they always do; so the sandbox is served on a free local
        port for the duration, with Microsoft's hosts routed there (sandbox.demo.served).
        """
        started = time.monotonic()
        with demo.served():
            objects = discovery.discover()
            first = self.back_up_all(objects)
            first_seconds = time.monotonic() - started
            changes = demo.apply_demo_changes()
            second = self.back_up_all(objects)
        seconds = time.monotonic() - started
        self.stdout.write(
            f"Backed up {len(objects)} mailboxes and drives: {first} items in "
            f"{first_seconds:.1f} s, then again after {second} changes "
            f"({', '.join(f'{k} {v!r}' for k, v in changes.items() if v)}); {seconds:.1f} s in all."
        )

    def back_up_all(self, objects: list[ProtectedObject]) -> int:
        items = 0
        for obj in objects:
            outcome = runner.run(obj)
            point = outcome.point
            if self.verbosity > 1:
                self.stdout.write(f"{obj}: {point.status} in {outcome.seconds:.2f} s")
            if point.status == RestorePoint.Status.FAILED:
                self.stderr.write(f"Backup of {obj} failed: {point.error}")
            items += point.items_added + point.items_changed + point.items_removed
        return items
