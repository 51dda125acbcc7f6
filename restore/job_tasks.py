"""Celery entry points of restore jobs: thin wrappers around restore/runner.py.

Named `restore.tasks.…` (restore/tasks.py imports them, so Celery's autodiscovery finds
them and beat's schedule names them the same way).
"""

from __future__ import annotations

from celery import shared_task

from restore import runner


# acks_late: safe to redeliver, runner.claim() refuses a job another worker holds.
@shared_task(name="restore.tasks.run_restore_job", acks_late=True, ignore_result=True)
def run_restore_job(job_id: str) -> None:
    runner.run(job_id)


@shared_task(name="restore.tasks.resume_stalled_jobs", ignore_result=True)
def resume_stalled_jobs() -> None:
    runner.resume_stalled()
