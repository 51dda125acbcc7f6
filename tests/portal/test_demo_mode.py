"""The embedded defaults: SQLite database and SQLite broker, no service at all.

`make run` relies on these, and `manage.py` with no environment must act on the same
demo as the running processes. This drives real processes with an empty environment.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo_env(tmp_path):
    return {"PATH": os.environ["PATH"], "LIFEBOAT_VAR_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}


def manage(env, *args):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_a_task_goes_through_the_sqlite_broker_to_a_worker_and_back(demo_env, tmp_path):
    assert manage(demo_env, "migrate", "--noinput").returncode == 0
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "--app", "portal", "worker", "--concurrency", "1",
         "--hostname", "demo-test@%h", "--loglevel", "INFO"],
        cwd=ROOT, env=demo_env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        sent = manage(
            demo_env, "shell", "-c", "from portal.tasks import heartbeat; heartbeat.delay()"
        )
        assert sent.returncode == 0, sent.stderr

        log_path = tmp_path / "worker.log"
        deadline = time.monotonic() + 30
        while not re.search(
            r"Task portal\.tasks\.heartbeat\[[^]]+\] succeeded", log_path.read_text()
        ):
            assert worker.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        database = sqlite3.connect(tmp_path / "lifeboat.sqlite3")
        rows = database.execute("SELECT hostname FROM portal_workerheartbeat").fetchall()
        assert [row[0] for row in rows] == [rows[0][0]]
        assert rows[0][0].startswith("demo-test@")

        # The worker's own heartbeat shows in /healthz while it runs.
        health = manage(
            demo_env,
            "shell",
            "-c",
            "from django.test import Client; r = Client().get('/healthz', HTTP_HOST='127.0.0.1');"
            "print(r.status_code, r.json()['broker']['ok'], r.json()['workers']['workers'][0]['hostname'])",
        )
        assert health.stdout.strip().endswith(f"200 True {rows[0][0]}"), health.stderr
    finally:
        worker.terminate()
        worker.wait(timeout=20)
    # A warm stop removes the worker's heartbeat.
    assert not database.execute("SELECT hostname FROM portal_workerheartbeat").fetchall()
