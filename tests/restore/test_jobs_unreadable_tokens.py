"""A token cache no configured key can decrypt: the job waits and says why, the console
shows it, nothing restarts in a loop; the key put back lets it go on."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.test import Client
from django.urls import reverse

from authflow.models import Role, TokenCache, User
from portal.models import AuditEvent
from restore.jobs import lifecycle as jobs
from restore.jobs import runner
from restore.models import Item, RestoreJob
from restore.scope import Scope
from tests.conftest import wait_for
from tests.restore.jobs_support import back_up_mailbox

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGE = "an administrator must restore the token encryption key or the person must sign in again"


def test_an_unreadable_token_cache_makes_the_job_wait_and_says_why(sandbox, alice, settings):
    point = back_up_mailbox("alice")
    item = Item.objects.get(object=point.object, name="Q3 budget — final")
    job = jobs.create_job(
        Scope.for_user(alice), point, [item.pk], [], "folder", "Unreadable test", "keep-both"
    )
    old_keys = settings.TOKEN_ENCRYPTION_KEYS
    settings.TOKEN_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # the old key is gone

    runner.run(job.pk)

    job.refresh_from_db()
    assert job.status == RestoreJob.Status.WAITING
    assert MESSAGE in job.waiting_reason
    log = "\n".join(job.log.values_list("message", flat=True))
    assert MESSAGE in log
    row = TokenCache.objects.get(user=alice)
    assert row.status == TokenCache.Status.UNREADABLE
    assert row.ciphertext  # kept: the right key opens it again
    assert AuditEvent.objects.filter(action="token.unreadable").count() == 1

    admin = User.objects.create(username="admin.ivan", upn="ivan@contoso.example", role=Role.ADMIN)
    client = Client()
    client.force_login(admin)
    page = client.get(reverse("console:logged-in-users")).content.decode()
    assert "Cannot be decrypted" in page
    assert MESSAGE in page

    # The sweep does not requeue it while the tokens stay unreadable: no restart loop.
    entries = job.log.count()
    for _ in range(3):
        runner.resume_stalled()
    job.refresh_from_db()
    assert job.status == RestoreJob.Status.WAITING
    assert job.log.count() == entries

    # The administrator puts the key back: the next sweep lets the job go on.
    settings.TOKEN_ENCRYPTION_KEYS = old_keys
    runner.resume_stalled()
    job.refresh_from_db()
    assert job.status == RestoreJob.Status.QUEUED
    assert TokenCache.objects.get(user=alice).status == TokenCache.Status.VALID
    # The sweep queued it: the session's Celery worker (when an earlier test started it)
    # may claim it before this inline run does; either way it finishes.
    runner.run(job.pk)
    wait_for(lambda: RestoreJob.objects.get(pk=job.pk).is_finished, timeout=60)
    job.refresh_from_db()
    assert job.status == RestoreJob.Status.COMPLETED, list(
        job.log.values_list("message", flat=True)
    )
