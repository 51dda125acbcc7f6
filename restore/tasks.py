"""Celery tasks of the restore app (autodiscovered by portal.celery)."""

from __future__ import annotations

from restore.backup.tasks import backup_due_objects, backup_object  # noqa: F401
