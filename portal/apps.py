from __future__ import annotations

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Lifeboat portal"

    def ready(self) -> None:
        # Registers the Celery tasks in every process, as each app does (authflow/signals.py
        # describes the pattern). Imported here, not at the top: it imports models, which
        # the app registry is not ready for when this module loads.
        from portal import tasks  # noqa: F401
