from __future__ import annotations

from django.apps import AppConfig


class RestoreConfig(AppConfig):
    name = "restore"
    verbose_name = "Backups and restores"
