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


def test_the_jwt_bearer_grant_works_in_the_sqlite_demo(demo_env, tmp_path):
    """The grant asks the sandbox's token endpoint, served by the same process on the
    same SQLite file: it must not hold a write transaction meanwhile (which made it
    wait 30 s and answer 503)."""
    import json

    import requests

    from sandbox import constants
    from tests.conftest import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**demo_env, "PORTAL_URL": url}
    assert manage(env, "migrate", "--noinput").returncode == 0
    assert manage(env, "sandbox", "reset").returncode == 0
    log = (tmp_path / "web.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "web.log").read_text()
            try:
                requests.get(f"{url}/healthz", timeout=20)
                break
            except requests.RequestException:
                assert time.monotonic() < deadline, "the demo web server did not start"
                time.sleep(0.3)
        login = f"{url}/sandbox/login/{constants.TENANT_ID}/oauth2/v2.0"
        scope = "User.Read Mail.ReadWrite offline_access openid profile"
        flow = requests.post(
            f"{login}/devicecode",
            data={"client_id": constants.PUBLIC_CLIENT_ID, "scope": scope},
            timeout=10,
        ).json()
        upn = f"alice@{constants.TENANT_DOMAIN}"
        approved = manage(env, "sandbox", "approve", "--code", flow["user_code"], "--user", upn)
        assert approved.returncode == 0, approved.stderr
        microsoft = requests.post(
            f"{login}/token",
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                "client_id": constants.PUBLIC_CLIENT_ID,
                "device_code": flow["device_code"],
            },
            timeout=10,
        ).json()
        started = time.monotonic()
        issued = requests.post(
            f"{url}/api/v1/token",
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "client_id": constants.TENANT_ID,
                "assertion": json.dumps(microsoft),
            },
            timeout=60,
        )
        assert issued.status_code == 200, issued.text
        assert issued.json()["userName"] == upn
        assert time.monotonic() - started < 25  # not the SQLite lock's 30 s timeout
    finally:
        server.terminate()
        server.wait(timeout=20)
