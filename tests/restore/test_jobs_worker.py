"""Restore jobs on a real Celery worker: killed mid-job, and a token revoked mid-job."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from authflow import tokens
from authflow.models import SignIn
from restore.jobs import lifecycle as jobs
from restore.jobs import runner
from restore.jobs.restorers.mail import MARKER_PROPERTY
from restore.models import Folder, RestoreJob, RestoreJobItem
from restore.scope import Scope
from tests.conftest import wait_for
from tests.restore.jobs_support import add_messages, back_up_mailbox

pytestmark = pytest.mark.django_db(transaction=True)

STALE_SECONDS = 3
WORKER_ENV = {"RESTORE_STALE_SECONDS": str(STALE_SECONDS), "RESTORE_SLOT_LEASE_SECONDS": "3"}


@pytest.fixture
def worker(celery_worker, settings):
    """The session's worker, (re)started with short takeover times for these tests."""
    settings.RESTORE_STALE_SECONDS = STALE_SECONDS
    if any(celery_worker.env.get(k) != v for k, v in WORKER_ENV.items()):
        celery_worker.stop()
        celery_worker.env = {**celery_worker.env, **WORKER_ENV}
        celery_worker.start()
    return celery_worker


def markers(job: RestoreJob) -> Counter[str]:
    from sandbox.models import ExtendedProperty

    return Counter(
        ExtendedProperty.objects.filter(
            key=MARKER_PROPERTY.lower(), value__startswith=f"{job.pk}:"
        ).values_list("value", flat=True)
    )


def assert_each_item_exactly_once(job: RestoreJob) -> None:
    job.refresh_from_db()
    assert job.status == RestoreJob.Status.COMPLETED, list(
        job.log.values_list("message", flat=True)
    )
    expected = {f"{job.pk}:{i}" for i in job.job_items.values_list("item_id", flat=True)}
    found = markers(job)
    assert set(found) == expected
    assert max(found.values()) == 1
    assert job.items_done == job.items_total == len(expected)
    assert not job.job_items.exclude(status=RestoreJobItem.Status.DONE).exists()


def _sign_in_instructions(job: RestoreJob) -> str:
    log = "\n".join(job.log.values_list("message", flat=True))
    return log if ("enter the code" in log or "could not be started" in log) else ""


def big_inbox_job(alice) -> RestoreJob:
    add_messages("alice", 300)
    point = back_up_mailbox("alice")
    inbox = Folder.objects.get(object=point.object, path="Inbox")
    # keep both: into the original folders, so a duplicate would show as a second copy.
    return jobs.create_job(
        Scope.for_user(alice), point, [], [inbox.pk], "original", "", "keep-both"
    )


def test_a_worker_killed_mid_restore_leaves_no_item_lost_or_twice(sandbox, alice, worker):
    job = big_inbox_job(alice)
    wait_for(lambda: RestoreJob.objects.get(pk=job.pk).items_done >= 20, timeout=30, interval=0.02)
    worker.kill()
    job.refresh_from_db()
    assert job.status == RestoreJob.Status.RUNNING
    assert job.items_done < job.items_total, "the job finished before the worker was killed"

    worker.start()
    wait_for(
        lambda: runner.resume_stalled() or RestoreJob.objects.get(pk=job.pk).is_finished,
        timeout=30,
        interval=0.5,
    )
    wait_for(lambda: RestoreJob.objects.get(pk=job.pk).is_finished, timeout=60)
    assert_each_item_exactly_once(job)
    assert "Resumed." in job.log.values_list("message", flat=True)


def test_a_revoked_token_pauses_the_job_until_the_person_signs_in(sandbox, alice, worker):
    sandbox.policy(device_code_interval=1)
    job = big_inbox_job(alice)
    wait_for(lambda: RestoreJob.objects.get(pk=job.pk).items_done >= 5, timeout=30, interval=0.02)
    tokens.revoke(alice, by=None, reason="Revoked by the test.")

    wait_for(
        lambda: RestoreJob.objects.get(pk=job.pk).status == RestoreJob.Status.WAITING, timeout=30
    )
    job.refresh_from_db()
    assert job.waiting_reason.startswith(f"{alice.upn} must sign in again")
    log = wait_for(lambda: _sign_in_instructions(job), timeout=10)
    found = re.search(r"open (\S+) and enter the code (\S+), then sign in as (\S+)\.", log)
    assert found, log
    assert found[3] == alice.upn
    assert job.items_done < job.items_total
    sign_in = SignIn.objects.get(user_code=found[2])
    assert sign_in.expected_identity == alice.identity
    assert "access_token" not in log
    assert "eyJ" not in log

    sandbox.approve(found[2], "alice")
    wait_for(lambda: RestoreJob.objects.get(pk=job.pk).is_finished, timeout=60)
    assert_each_item_exactly_once(job)
