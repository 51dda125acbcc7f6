"""Log lines: JSON or text, with the request id or the task's ids, and never a secret."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from tests.conftest import ROOT

SECRETS = ("rt-secret-value", "at-secret-value", "cs-secret-value", "eyJhbGciOiJub25lIn0")

SCRIPT = """
import logging, uuid
from django.test import Client
Client().get('/livez', HTTP_X_REQUEST_ID='req-test-12345678', HTTP_HOST='127.0.0.1')
log = logging.getLogger('lifeboat.test')
log.warning(
    'leaked refresh_token=rt-secret-value here',
    extra={'detail': {'access_token': 'at-secret-value'},
           'header': 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln'},
)
try:
    raise RuntimeError('boom with client_secret=cs-secret-value')
except RuntimeError:
    log.exception('it failed')
from restore.jobs.tasks import run_restore_job
run_restore_job.apply(args=[JOB])
"""


def run_script(subprocess_env: dict[str, str], log_format: str, job: str) -> str:
    env = {**subprocess_env, "LOG_FORMAT": log_format}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SCRIPT.replace("JOB", repr(job))],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stderr


@pytest.mark.django_db(transaction=True)
def test_json_lines_carry_request_and_task_ids_and_no_secret(subprocess_env):
    job = str(uuid.uuid4())
    output = run_script(subprocess_env, "json", job)
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]  # all JSON

    access = next(line for line in lines if line["event"] == "GET /livez 200")
    assert access["request_id"] == "req-test-12345678"
    assert access["status"] == 200
    assert access["level"] == "info"
    assert "timestamp" in access

    leaked = next(line for line in lines if line["event"].startswith("leaked"))
    assert leaked["event"] == "leaked refresh_token=[redacted] here"
    assert leaked["detail"] == {"access_token": "[redacted]"}
    assert leaked["header"] == "Bearer [redacted]"
    failed = next(line for line in lines if line["event"] == "it failed")
    assert "exception" in failed  # the traceback, as structured data, redacted too

    task = next(line for line in lines if "not claimable" in line["event"])
    assert task["task"] == "restore.tasks.run_restore_job"
    assert task["restore_job"] == job
    assert task["task_id"]

    for secret in SECRETS:
        assert secret not in output


@pytest.mark.django_db(transaction=True)
def test_text_lines_carry_the_same_ids_and_no_secret(subprocess_env):
    job = str(uuid.uuid4())
    output = run_script(subprocess_env, "text", job)
    access = next(line for line in output.splitlines() if "GET /livez 200" in line)
    assert "request_id=req-test-12345678" in access
    task = next(line for line in output.splitlines() if "not claimable" in line)
    assert f"restore_job={job}" in task
    assert "task=restore.tasks.run_restore_job" in task
    assert "RuntimeError" in output  # the traceback is there ...
    for secret in SECRETS:
        assert secret not in output  # ... without the secret
