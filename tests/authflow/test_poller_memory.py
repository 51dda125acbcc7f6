"""What the poller keeps from poll to poll (decrypted flows, msal apps) never changes what
it stores or whose tokens it keeps."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from authflow import encryption, poller, signins
from authflow.models import SignIn, TokenCache
from sandbox.models import DeviceCode

# These tests poll in this process: a session worker (started by an earlier module) would
# poll the same sign-ins first, in its own process.
pytestmark = pytest.mark.usefixtures("session_workers_paused")


def test_one_sign_ins_tokens_never_land_in_anothers_token_cache(sandbox):
    """The poller keeps msal apps from poll to poll; one that obtained tokens is never
    used again, so each person's kept token cache holds their account alone."""
    sandbox.policy(device_code_interval=1)
    first = signins.start_device_sign_in()
    second = signins.start_device_sign_in()
    sandbox.approve(first.user_code, "alice")
    sandbox.approve(second.user_code, "bob")

    # One HTTP thread: both are polled with that thread's msal app.
    for _ in range(10):
        poller.run(max_seconds=1.5, threads=1)
        if not SignIn.objects.filter(pk__in=[first.pk, second.pk], status="pending").exists():
            break

    for sign_in in (first, second):
        sign_in.refresh_from_db()
        assert sign_in.status == SignIn.Status.COMPLETED, sign_in.message
        kept = TokenCache.objects.get(user=sign_in.result_user)
        cache = json.loads(encryption.decrypt(kept.ciphertext))
        assert [a["username"] for a in cache["Account"].values()] == [sign_in.actual_label]
        assert len(cache["RefreshToken"]) == 1


def test_a_slow_down_is_kept_with_the_stored_flow(sandbox):
    """msal adds 5 s to the interval on slow_down (RFC 8628 §3.5): the stored flow says so
    too, so a worker that takes the sign-in over after a restart polls no faster."""
    sandbox.policy(device_code_interval=2)
    sign_in = signins.start_device_sign_in()
    SignIn.objects.filter(pk=sign_in.pk).update(next_poll_at=timezone.now())
    poller.run(max_seconds=0.5, threads=1)
    # A poll that arrives early (as if it waited in a queue and the last one did not).
    SignIn.objects.filter(pk=sign_in.pk).update(next_poll_at=timezone.now())
    poller.run(max_seconds=0.5, threads=1)

    sign_in.refresh_from_db()
    assert DeviceCode.objects.get(user_code=sign_in.user_code).slow_downs == 1
    assert sign_in.status == SignIn.Status.PENDING
    assert sign_in.polls == 2
    assert sign_in.interval == 7
    assert json.loads(encryption.decrypt(sign_in.flow_ciphertext))["interval"] == 7


def test_a_flow_changed_in_the_database_is_read_again(sandbox):
    """A worker keeps the flows it decrypted; when another worker stored a changed flow (a
    longer interval after its slow_down, or keys rotated), this one polls with the stored
    flow, not with what it remembers."""
    sandbox.policy(device_code_interval=1)
    sign_in = signins.start_device_sign_in()
    SignIn.objects.filter(pk=sign_in.pk).update(next_poll_at=timezone.now())
    poller.run(max_seconds=0.5, threads=1)
    flow = json.loads(encryption.decrypt(SignIn.objects.get(pk=sign_in.pk).flow_ciphertext))
    flow["interval"] = 7
    SignIn.objects.filter(pk=sign_in.pk).update(
        flow_ciphertext=encryption.encrypt(json.dumps(flow)),
        interval=7,
        next_poll_at=timezone.now() + timedelta(seconds=1.1),
    )
    poller.run(max_seconds=2, threads=1)

    sign_in.refresh_from_db()
    assert sign_in.polls == 2
    assert sign_in.interval == 7
    assert json.loads(encryption.decrypt(sign_in.flow_ciphertext))["interval"] == 7
    assert sign_in.next_poll_at - timezone.now() > timedelta(seconds=5)
