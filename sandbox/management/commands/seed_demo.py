"""`manage.py seed_demo`: the demo of `make run` on the sandbox tenant. Safe to run again.

It seeds the tenant, then, the first time, has the portal back it up twice with the
demo's changes in between (sandbox/demo.py). The sandbox imports nothing of the product:
the backups are the portal's own public command, `manage.py backup --all`, called here as
a person would type it, so this is the one place the sandbox drives the product, and it
does so through the product's user interface, not its code.
"""

from __future__ import annotations

import io
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError

from sandbox import constants, demo, seed


class Command(BaseCommand):
    help = "Prepare the demo on the sandbox tenant. Safe to run again: it only fills gaps."

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = int(options["verbosity"])
        if not settings.SANDBOX_ENABLED:
            self.stdout.write("A real tenant is configured (the sandbox is off): nothing to seed.")
            return
        if seed.ensure_seeded():
            self.stdout.write(
                "Seeded the sandbox tenants (contoso.example, fabrikam.example, northwind.example)."
            )
        if not demo.changes_applied():
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
        if "backup" not in get_commands():
            self.stdout.write("No `backup` command in this project: the demo has no backups.")
            return
        started = time.monotonic()
        with demo.served():
            self.connect_fabrikam()
            if not self.back_up_all():
                # Before the changes, so that the next run starts the demo's backups again.
                raise CommandError("The demo's first backup failed; run seed_demo again.")
            first_seconds = time.monotonic() - started
            changes = demo.apply_demo_changes()
            self.back_up_all()
        seconds = time.monotonic() - started
        self.stdout.write(
            f"Backed up every mailbox and drive in {first_seconds:.1f} s, then again after "
            f"the demo's changes ({', '.join(f'{k} {v!r}' for k, v in changes.items() if v)}); "
            f"{seconds:.1f} s in all."
        )

    def connect_fabrikam(self) -> None:
        """A second organisation, connected as an admin would: `manage.py tenant add`, its
        admin's consent (the sandbox grants it, as Entra does on Accept), `tenant verify`.
        Skipped in a project without the `tenant` command."""
        if "tenant" not in get_commands():
            return
        output = self.stdout if self.verbosity > 1 else io.StringIO()
        try:
            call_command("tenant", "add", constants.OTHER_TENANT_DOMAIN, "--name", "Fabrikam",
                         stdout=output)  # fmt: skip
        except CommandError as error:  # already connected by an earlier run
            self.stderr.write(f"Fabrikam: {error}")
        demo.consent_for_portal(constants.OTHER_TENANT_ID)
        try:
            call_command("tenant", "verify", constants.OTHER_TENANT_DOMAIN, stdout=output)
        except CommandError as error:
            self.stderr.write(f"Fabrikam is connected but not every workload works: {error}")

    def back_up_all(self) -> bool:
        """`manage.py backup --all`; its lines are shown with -v 2, or when one fails."""
        output = self.stdout if self.verbosity > 1 else io.StringIO()
        try:
            call_command("backup", "--all", stdout=output, stderr=self.stderr)
        except CommandError as error:
            if isinstance(output, io.StringIO):
                self.stderr.write(output.getvalue().rstrip("\n"))
            self.stderr.write(f"Backup: {error}")
            return False
        return True
