"""Celery tasks of the restore app (autodiscovered here)."""

from __future__ import annotations

from restore.backup.tasks import backup_due_objects, backup_object
from restore.content_tasks import verify_blob_slice
from restore.job_tasks import resume_stalled_jobs, run_restore_job

__all__ = [
    "backup_due_objects",
    "backup_object",
    "resume_stalled_jobs",
    "run_restore_job",
    "verify_blob_slice",
]
