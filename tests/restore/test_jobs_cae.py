"""Continuous access evaluation mid-restore, on a real worker: the person's sessions are
revoked in the tenant while their restore runs; Graph answers the portal's (cp1) token
with a claims challenge; the renewal with those claims is refused, so the person's
access ends and the job waits for them, saying why; after they sign in it goes on."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from authflow import tokens
from authflow.models import TokenCache
from portal.models import AuditEvent
from restore.models import RestoreJob
from tests.conftest import wait_for
from tests.restore.test_jobs_worker import (  # noqa: F401 - the worker fixture
    _sign_in_instructions,
    assert_each_item_exactly_once,
    big_inbox_job,
    worker,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.usefixtures("worker")
def test_a_cae_challenge_mid_restore_pauses_the_job_until_the_person_signs_in(sandbox, alice):
    sandbox.policy(device_code_interval=1)
    job = big_inbox_job(alice)
    wait_for(lambda: RestoreJob.objects.get(pk=job.pk).items_done >= 5, timeout=30, interval=0.02)
    directory_alice = sandbox.user("alice")
    directory_alice.revoke_sign_in_sessions()

    wait_for(
        lambda: RestoreJob.objects.get(pk=job.pk).status == RestoreJob.Status.WAITING, timeout=30
    )
    job.refresh_from_db()
    assert job.waiting_reason.startswith(f"{alice.upn} must sign in again")
    assert tokens.ACCESS_ENDED["AADSTS50173"] in job.waiting_reason
    assert job.items_done < job.items_total
    # Items restored in parallel may each meet the challenge: one audit each, same reason.
    reasons = set(
        AuditEvent.objects.filter(
            action="identity.access_ended", on_behalf_of=alice.identity
        ).values_list("details__reason", flat=True)
    )
    assert reasons == {tokens.ACCESS_ENDED["AADSTS50173"]}
    assert TokenCache.objects.get(user=alice).status == TokenCache.Status.NEEDS_SIGN_IN
    log = wait_for(lambda: _sign_in_instructions(job), timeout=10)
    found = re.search(r"open (\S+) and enter the code (\S+), then sign in as (\S+)\.", log)
    assert found, log

    # Graph's iat has whole seconds: the revocation is dated a second back so that the
    # new sign-in's token, whatever its second, is after it (nothing old survives: the
    # portal dropped those tokens).
    directory_alice.refresh_from_db()
    directory_alice.sign_in_sessions_valid_from -= timedelta(seconds=1)
    directory_alice.save()
    sandbox.approve(found[2], "alice")
    wait_for(lambda: RestoreJob.objects.get(pk=job.pk).is_finished, timeout=60)
    assert_each_item_exactly_once(job)
