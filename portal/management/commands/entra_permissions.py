"""Print the Microsoft Graph permissions the app registration needs (the README's list)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from portal import permissions


class Command(BaseCommand):
    help = (
        "Print the Graph permissions Lifeboat's app registration needs, from portal/permissions.py."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(permissions.entra_markdown(), ending="")
