"""docs/api.md's walk-through, run as written (bash, curl, jq) against the demo's data
over real HTTP, with a real worker doing the restore."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from api import tokens
from restore.backup import runner
from restore.models import RestorePoint
from sandbox import demo
from tests.restore.jobs_support import back_up_mailbox, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def walkthrough() -> str:
    text = GUIDE.read_text()
    section = text[text.index("### Walk-through") :]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def test_the_api_walkthrough_works_on_the_demo_as_written(
    sandbox, celery_worker, live_server, tmp_path
):
    from sandbox.models import Message

    alice = sign_in(sandbox, "alice")  # the portal holds her delegated tokens
    first = back_up_mailbox("alice")
    demo.apply_demo_changes()
    assert runner.run(first.object).point.status == RestorePoint.Status.SUCCEEDED
    assert not Message.objects.filter(
        mailbox__user_principal_name__startswith="alice@", subject=demo.BUDGET_SUBJECT,
        folder__well_known_name="inbox",
    ).exists()  # fmt: skip
    environment = os.environ | {
        "API": f"{live_server.url}/api/v1",
        "ACCESS_TOKEN": tokens.issue(alice, grant="operator").access_token,
    }
    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + walkthrough()],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert '"name":"Q3 budget — final"' in done.stdout
    assert '"later":{"deleted":true' in done.stdout
    assert (
        '{"status":"completed","items_done":1,"items_verified":1,"items_failed":0}' in done.stdout
    )
    back = Message.objects.filter(
        mailbox__user_principal_name__startswith="alice@", subject=demo.BUDGET_SUBJECT,
        folder__well_known_name="inbox",
    )  # fmt: skip
    assert back.count() == 1
    downloaded = sorted(p.name for p in tmp_path.iterdir())
    assert downloaded[0] == "Q3 budget - final.eml", downloaded  # curl -OJ: the ASCII name
    assert downloaded[1].startswith("item-")
    assert (tmp_path / downloaded[0]).read_bytes() == (tmp_path / downloaded[1]).read_bytes()
