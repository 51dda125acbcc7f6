"""Two real `celery beat` processes: one sends, the other stands by and takes over."""

from __future__ import annotations

import itertools
import re
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import ROOT, wait_for

SENT = re.compile(
    r"^(\S+Z) .*Scheduler: Sending due task run-sign-in-poller \(authflow\.tasks\.run_poller\)",
    re.M,
)


def start_beat(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "--app", "portal", "beat", "--loglevel", "INFO",
         "--schedule", str(log.with_suffix(".schedule"))],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def sends(log: Path) -> list[datetime]:
    return [datetime.fromisoformat(t) for t in SENT.findall(log.read_text(errors="replace"))]


@pytest.mark.django_db(transaction=True)
def test_a_second_beat_stands_by_and_takes_over_without_sending_twice(subprocess_env, tmp_path):
    # The messages go nowhere (an in-memory broker): what is under test is who sends, and
    # when, which each beat logs. The lock is in the test database.
    env = {**subprocess_env, "CELERY_BROKER_URL": "memory://", "BEAT_LOCK_SECONDS": "12",
           "LOG_FORMAT": "text"}  # fmt: skip
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = start_beat(env, first_log)
    second = None
    try:
        wait_for(lambda: "is now the one sending" in first_log.read_text(), timeout=120)
        second = start_beat(env, second_log)
        wait_for(lambda: "is a standby" in second_log.read_text(), timeout=120)

        # The first sends the 10-second task, the standby nothing.
        wait_for(lambda: len(sends(first_log)) >= 2, timeout=40)
        assert sends(second_log) == []

        first.send_signal(signal.SIGKILL)  # it cannot release the lock
        first.wait(timeout=10)
        killed_at = datetime.now().astimezone()
        wait_for(
            lambda: "is now the one sending" in second_log.read_text(),
            timeout=60,
            message="the standby did not take over within a minute",
        )
        wait_for(lambda: len(sends(second_log)) >= 2, timeout=40)
    finally:
        for process in (first, second):
            if process and process.poll() is None:
                process.terminate()
                process.wait(timeout=20)

    assert all(moment < killed_at for moment in sends(first_log))
    # Once per period across both beats: no two sends closer than the 10 s period allows.
    every = sorted(sends(first_log) + sends(second_log))
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(every)]
    assert min(gaps) >= 9.5, gaps
    # A warm stop releases the lock for the next beat at once.
    assert "released the lock" in second_log.read_text()
