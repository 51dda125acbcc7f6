"""A restore spaces its uploads to Outlook's budget per mailbox (restore/jobs/throttle.py):
a worker waits for room in the sliding window instead of meeting 429s."""

from __future__ import annotations

import time
import uuid

from restore.jobs import throttle


def test_an_upload_over_the_budget_waits_until_the_oldest_leaves_the_window(settings):
    settings.RESTORE_UPLOAD_BYTES_PER_WINDOW = 100
    settings.RESTORE_UPLOAD_WINDOW_SECONDS = 1
    mailbox, other = uuid.uuid4().hex, uuid.uuid4().hex

    throttle.reserve_upload(mailbox, 60)
    first = time.monotonic()
    throttle.reserve_upload(mailbox, 30)  # 90 of 100: room
    throttle.reserve_upload(other, 100)  # another mailbox has its own budget
    assert time.monotonic() - first < 0.5
    throttle.reserve_upload(mailbox, 20)  # 110: waits for the 60 to be a window old

    assert time.monotonic() - first >= 0.9


def test_pacing_is_off_without_a_budget(settings):
    settings.RESTORE_UPLOAD_BYTES_PER_WINDOW = 0
    started = time.monotonic()
    for _ in range(3):
        throttle.reserve_upload("any", 10**9)
    assert time.monotonic() - started < 0.5
