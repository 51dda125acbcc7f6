"""scripts/lifeboat-state for real: back up the database and the blob store, wipe both,
restore, read an item back and restore it into the sandbox (docs/operations.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from django.db import connection

from restore.blobs import blob_store
from restore.jobs import lifecycle as jobs
from restore.jobs import runner
from restore.models import Item, RestoreJob
from restore.scope import Scope
from tests.conftest import ROOT, wait_for
from tests.restore.jobs_support import back_up_mailbox

pytestmark = pytest.mark.django_db(transaction=True)


def lifeboat_state(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / "lifeboat-state"), *args],
        cwd=ROOT,
        env={**env, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_back_up_wipe_restore_then_read_and_restore_an_item(
    sandbox, alice, subprocess_env, blob_root, tmp_path
):
    from authflow.models import User
    from sandbox.models import Message

    point = back_up_mailbox("alice")
    item = Item.objects.get(object=point.object, name="Q3 budget — final")
    with blob_store().open(item.content_sha256) as stream:
        content = stream.read()
    backup = tmp_path / "lifeboat-backup"

    taken = lifeboat_state(subprocess_env, "backup", str(backup))
    assert taken.returncode == 0, taken.stderr
    assert (backup / "database.dump").stat().st_size > 0
    assert (backup / "blobs" / "keys.json").is_file()
    # Sealed in the backup too: the copy is useless without the keys.
    sealed = (backup / "blobs").rglob(item.content_sha256)
    assert b"Q3 budget" not in next(sealed).read_bytes()

    # Wipe both: the database schema and every blob.
    with connection.cursor() as cursor:
        cursor.execute("DROP SCHEMA public CASCADE")
        cursor.execute("CREATE SCHEMA public")
    for entry in blob_root.iterdir():
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    assert not blob_store().exists(item.content_sha256)

    restored = lifeboat_state(subprocess_env, "restore", str(backup))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "0 missing or corrupt" in restored.stdout

    # The item reads back as it was ...
    item = Item.objects.get(pk=item.pk)
    with blob_store().open(item.content_sha256) as stream:
        assert stream.read() == content
    # ... and restores into Microsoft 365 (the sandbox, restored with the database).
    Message.objects.filter(id=item.graph_id).delete()
    person = User.objects.get(pk=alice.pk)
    job = jobs.create_job(Scope.for_user(person), point.pk, [item.pk], [], "original", "", "skip")
    runner.run(job.pk)
    wait_for(lambda: RestoreJob.objects.get(pk=job.pk).is_finished, timeout=60)
    job.refresh_from_db()
    assert job.status == RestoreJob.Status.COMPLETED, list(
        job.log.values_list("message", flat=True)
    )
    assert Message.objects.filter(
        mailbox__user_principal_name__startswith="alice@", subject=item.name
    ).exists()


def test_the_script_refuses_what_it_cannot_do(subprocess_env, tmp_path):
    no_backup = lifeboat_state(subprocess_env, "restore", str(tmp_path / "nothing"))
    assert no_backup.returncode == 2
    assert "holds no Lifeboat backup" in no_backup.stderr
    sqlite = lifeboat_state({**subprocess_env, "DATABASE_URL": "sqlite:///x"}, "backup", "x")
    assert sqlite.returncode == 2
    assert "PostgreSQL" in sqlite.stderr
    assert lifeboat_state(subprocess_env, "frobnicate", "x").returncode == 2
    assert os.access(ROOT / "scripts" / "lifeboat-state", os.X_OK)
