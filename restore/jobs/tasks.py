"""Celery entry points of restore jobs: thin wrappers around restore/jobs/runner.py, and the
receivers that queue them (restore/jobs/signals.py).

Named `restore.tasks.…`: the names queued messages and beat's schedule use. restore/apps.py
imports this module so the tasks are registered and the receivers connected everywhere.
"""

from __future__ import annotations

from celery import shared_task
from django.dispatch import receiver

from authflow.models import User
from authflow.signals import identity_signed_in
from restore.jobs import consent, lifecycle, runner
from restore.jobs.signals import job_queued


# acks_late: safe to redeliver, runner.claim() refuses a job another worker holds.
@shared_task(name="restore.tasks.run_restore_job", acks_late=True, ignore_result=True)
def run_restore_job(job_id: str) -> None:
    runner.run(job_id)


@shared_task(name="restore.tasks.resume_stalled_jobs", ignore_result=True)
def resume_stalled_jobs() -> None:
    runner.resume_stalled()
    consent.expire_overdue()  # restores into another person's mailbox nobody answered


@receiver(job_queued, dispatch_uid="restore-run-job")
def queue_job(sender: object, job_id: str, countdown: int | None = None, **kwargs: object) -> None:
    if countdown is None:  # celery-types: countdown is a number, never None
        run_restore_job.apply_async((job_id,))
    else:
        run_restore_job.apply_async((job_id,), countdown=countdown)


@receiver(identity_signed_in, dispatch_uid="restore-resume-jobs")
def resume_after_sign_in(sender: object, user: User, **kwargs: object) -> None:
    """Jobs that waited for this person's sign-in go on by themselves."""
    lifecycle.requeue_waiting(user)
