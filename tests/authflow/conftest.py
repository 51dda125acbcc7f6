from __future__ import annotations

import pytest

from authflow import poller, signins
from authflow.models import SignIn, User


@pytest.fixture
def sign_in_with_code(sandbox):
    """Sign someone in by device code with the real flow, polling in this process."""

    def sign_in(alias: str, **start_options) -> SignIn:
        # The code is approved before the first poll: no interval to wait (1 s again after).
        sandbox.policy(device_code_interval=0)
        attempt = signins.start_device_sign_in(**start_options)
        sandbox.approve(attempt.user_code, alias)
        deadline_runs = 10
        while attempt.status == SignIn.Status.PENDING and deadline_runs:
            poller.run(max_seconds=1.5, threads=2)
            attempt.refresh_from_db()
            deadline_runs -= 1
        sandbox.policy(device_code_interval=1)
        return attempt

    return sign_in


@pytest.fixture
def alice(sign_in_with_code) -> User:
    attempt = sign_in_with_code("alice")
    assert attempt.status == SignIn.Status.COMPLETED, attempt.message
    return attempt.result_user
