from __future__ import annotations

from django.apps import AppConfig


class RestoreConfig(AppConfig):
    name = "restore"
    verbose_name = "Backups and restores"

    def ready(self) -> None:
        # Registers the Celery tasks and connects the receivers that queue them
        # (restore/jobs/signals.py), in web processes too. Imported here, not at the top: they
        # import models, which the app registry is not ready for when this module loads.
        from restore import metrics
        from restore.backup import tasks  # noqa: F401
        from restore.jobs import tasks as job_tasks  # noqa: F401

        metrics.register()
