from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from sandbox import seed


class Command(BaseCommand):
    help = "Prepare the demo on the sandbox tenant. Safe to run again: it only fills gaps."

    def handle(self, *args: object, **options: object) -> None:
        if not settings.SANDBOX_ENABLED:
            self.stdout.write("A real tenant is configured (the sandbox is off): nothing to seed.")
            return
        if seed.ensure_seeded():
            self.stdout.write("Seeded the sandbox tenant (contoso.example and fabrikam.example).")
        self.stdout.write(self.style.SUCCESS(
            f"Demo ready. Sign in at {settings.PORTAL_URL} as alice@contoso.example "
            f"(password: {seed.person('alice').password}); the sandbox's accounts are listed at "
            f"{settings.SANDBOX_PUBLIC_URL}/."
        ))  # fmt: skip
