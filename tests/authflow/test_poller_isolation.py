"""One broken pending sign-in never holds the others back: the poller loop ends or
retries that one and keeps polling the rest (before, one undecryptable flow or one
unexpected error in a poll ended the loop and left every sign-in "pending")."""

from __future__ import annotations

import json
import logging

import pytest
from cryptography.fernet import Fernet

from authflow import encryption, poller, signins
from authflow.models import SignIn

# These tests poll in this process: a session worker (started by an earlier module) would
# poll the same sign-ins first, in its own process, and log there.
pytestmark = pytest.mark.usefixtures("session_workers_paused")


def poll_until(sign_in: SignIn, runs: int = 10) -> SignIn:
    for _ in range(runs):
        poller.run(max_seconds=1.5, threads=2)
        sign_in.refresh_from_db()
        if sign_in.is_final:
            break
    return sign_in


def test_an_undecryptable_flow_ends_and_the_others_are_still_polled(sandbox, caplog):
    sandbox.policy(device_code_interval=1)
    broken = signins.start_device_sign_in()
    good = signins.start_device_sign_in()
    # Encrypted under a key this process does not hold (rotated out too early).
    SignIn.objects.filter(pk=broken.pk).update(
        flow_ciphertext=Fernet(Fernet.generate_key()).encrypt(b"{}")
    )
    sandbox.approve(good.user_code, "alice")

    with caplog.at_level(logging.ERROR, logger="authflow.poller"):
        assert poll_until(good).status == SignIn.Status.COMPLETED

    broken.refresh_from_db()
    assert broken.status == SignIn.Status.FAILED
    assert "can no longer read its code" in broken.message
    assert f"Device sign-in {broken.pk}: its device code cannot be decrypted" in caplog.text


def test_an_unexpected_error_in_one_poll_is_logged_and_retried(sandbox, caplog):
    sandbox.policy(device_code_interval=1)
    odd = signins.start_device_sign_in()
    good = signins.start_device_sign_in()
    # A flow msal cannot use (no device code): msal raises, which is not an answer.
    flow = json.loads(encryption.decrypt(odd.flow_ciphertext))
    del flow["device_code"]
    SignIn.objects.filter(pk=odd.pk).update(flow_ciphertext=encryption.encrypt(json.dumps(flow)))
    sandbox.approve(good.user_code, "alice")

    with caplog.at_level(logging.WARNING, logger="authflow.poller"):
        assert poll_until(good).status == SignIn.Status.COMPLETED

    odd.refresh_from_db()
    assert odd.status == SignIn.Status.PENDING
    assert odd.transient_failures >= 1
    assert "not answering right now" in odd.message
    assert "Device sign-in poll failed unexpectedly (KeyError)" in caplog.text
    assert f"Device sign-in {odd.pk}: poll failed (KeyError), retrying" in caplog.text
