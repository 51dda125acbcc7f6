"""Celery tasks of the restore app (autodiscovered here)."""

from __future__ import annotations

from restore.job_tasks import resume_stalled_jobs, run_restore_job

__all__ = ["resume_stalled_jobs", "run_restore_job"]
