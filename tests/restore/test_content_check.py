"""Content lost or damaged in the blob store: found by verify_blobs (and the daily slice),
repaired from Microsoft 365 where it still holds the item unchanged, else marked "content
lost" everywhere people look; an unreachable store makes jobs wait, nothing restored."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import zipfile
from datetime import date, timedelta

import pytest
from django.core.management import CommandError, call_command
from prometheus_client import REGISTRY

from authflow.models import Role, User
from portal.health import live_workers
from portal.models import AuditEvent
from restore.backup import runner as backup_runner
from restore.blobs import blob_store, sealing
from restore.blobs.store import legacy_name, sealed_name
from restore.catalog import content as content_check
from restore.jobs import lifecycle as jobs
from restore.models import ContentStatus, Item, RestoreJob, RestoreJobItem, Workload
from restore.scope import Scope
from tests.conftest import free_port, wait_for
from tests.restore.jobs_support import back_up_drive, back_up_mailbox

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def store_root(settings, tmp_path):
    """A store of this test's own: blobs damaged here must not reach other tests."""
    settings.BLOB_STORE_URL = f"file://{tmp_path / 'store'}"
    return tmp_path / "store"


def blob_path(root, item: Item):
    return root / sealed_name(item.content_sha256)


def verify(*args: str) -> int:
    try:
        call_command("verify_blobs", *args)
    except CommandError as error:
        return error.returncode
    return 0


def metric(status: str) -> float | None:
    return REGISTRY.get_sample_value("lifeboat_content_problem_items", {"status": status})


def test_verify_finds_missing_and_corrupt_content_and_repair_refetches_or_marks_lost(
    sandbox, store_root, client, celery_worker
):
    from sandbox.models import DriveItem, Message

    mail = back_up_mailbox("alice").object
    drive = back_up_drive("alice").object
    assert verify() == 0
    messages = list(Item.objects.filter(object=mail).exclude(content_sha256="").order_by("id"))
    files = list(Item.objects.filter(object=drive, kind="file").order_by("id"))
    unchanged_mail, gone_mail = messages[0], messages[1]
    corrupt_file, gone_file = files[0], files[1]
    blob_path(store_root, unchanged_mail).unlink()
    blob_path(store_root, gone_mail).unlink()
    blob_path(store_root, gone_file).unlink()
    raw = bytearray(blob_path(store_root, corrupt_file).read_bytes())
    raw[sealing.HEADER + 3] ^= 1
    blob_path(store_root, corrupt_file).write_bytes(bytes(raw))
    Message.objects.filter(id=gone_mail.graph_id).delete()
    DriveItem.objects.filter(id=gone_file.graph_id).delete()

    # Found, reported, exit status 1; the catalog says what is wrong.
    assert verify() == 1
    statuses = dict(Item.objects.exclude(content_status="").values_list("pk", "content_status"))
    assert statuses == {
        unchanged_mail.pk: "missing",
        gone_mail.pk: "missing",
        gone_file.pk: "missing",
        corrupt_file.pk: "corrupt",
    }
    # /healthz: degraded, not down; the metric and the console agree.
    wait_for(live_workers, message="the session's worker sent no heartbeat")
    health = client.get("/healthz")
    assert health.status_code == 200, health.json()
    body = health.json()
    assert body["status"] == "degraded"
    assert (body["content"]["items_missing"], body["content"]["items_corrupt"]) == (3, 1)
    assert metric("missing") == 3
    assert metric("corrupt") == 1
    admin = User.objects.create(username="admin.ivan", upn="ivan@contoso.example", role=Role.ADMIN)
    client.force_login(admin)
    page = client.get("/admin/backup-store").content.decode()
    assert "Damaged (fails authentication)" in page
    assert corrupt_file.name in page

    # Repair: what Microsoft 365 still holds unchanged comes back; the rest is lost.
    assert verify("--repair") == 1
    for item in (unchanged_mail, gone_mail, corrupt_file, gone_file):
        item.refresh_from_db()
    assert unchanged_mail.content_status == corrupt_file.content_status == ""
    assert gone_mail.content_status == gone_file.content_status == ContentStatus.LOST
    with blob_store().open(corrupt_file.content_sha256) as stream:
        data = stream.read()
    sandbox_file = DriveItem.objects.get(id=corrupt_file.graph_id)
    assert data == bytes(sandbox_file.versions.order_by("-number").first().content)
    assert blob_store().verify(unchanged_mail.content_sha256, tenant=str(mail.tenant_id)) == "ok"
    assert metric("lost") == 2
    # Lost is final: the next check does not count it as missing again.
    assert verify() == 0
    assert client.get("/healthz").json()["status"] == "ok"


def test_content_lost_is_said_by_browse_download_api_and_restore(sandbox, alice, client):
    point = back_up_mailbox("alice")
    item = Item.objects.get(object=point.object, name="Q3 budget — final")
    Item.objects.filter(pk=item.pk).update(content_status=ContentStatus.LOST)
    client.force_login(alice)
    assert "Content lost" in client.get(f"/backups/items/{item.pk}/").content.decode()
    listing = client.get(f"/backups/points/{point.pk}/").content.decode()
    assert "content lost" in listing
    download = client.get(f"/backups/items/{item.pk}/download")
    assert download.status_code == 410
    assert b"Content lost" in download.content

    job = jobs.create_job(Scope.for_user(alice), point.pk, [item.pk], [], "original", "", "skip")
    from restore.jobs import runner

    runner.run(job.pk)
    wait_for(lambda: RestoreJob.objects.get(pk=job.pk).is_finished, timeout=30)
    job_item = RestoreJobItem.objects.get(job=job)
    assert job_item.status == RestoreJobItem.Status.FAILED
    assert job_item.error.startswith("Content lost")


def test_a_full_backup_fetches_again_what_the_store_lost(sandbox, store_root):
    point = back_up_drive("alice")
    item = Item.objects.filter(object=point.object, kind="file").order_by("id").first()
    blob_path(store_root, item).unlink()
    assert verify() == 1
    incremental = backup_runner.run(point.object).point
    assert incremental.bytes_stored == 0  # nothing changed in Microsoft 365: nothing fetched
    assert not blob_store().exists(item.content_sha256)
    full = backup_runner.run(point.object, full=True).point
    assert full.status == "succeeded", full.error
    assert blob_store().exists(item.content_sha256)
    item.refresh_from_db()
    assert item.content_status == ""
    assert verify() == 0


def test_backup_command_takes_full(sandbox, store_root, capsys):
    point = back_up_drive("alice")
    item = Item.objects.filter(object=point.object, kind="file").order_by("id").first()
    blob_path(store_root, item).unlink()
    call_command("backup", str(point.object.pk), "--full")
    assert blob_store().exists(item.content_sha256)


def test_plaintext_blobs_of_earlier_versions_are_sealed_in_place(sandbox, store_root):
    point = back_up_drive("alice")
    items = list(Item.objects.filter(object=point.object, kind="file"))
    # As an earlier version stored them: plaintext under their SHA-256.
    for address in {item.content_sha256 for item in items}:
        with blob_store().open(address) as stream:
            data = stream.read()
        sha = hashlib.sha256(data).hexdigest()
        legacy = store_root / legacy_name(sha)
        legacy.parent.mkdir(parents=True, exist_ok=True)
        legacy.write_bytes(data)
        (store_root / sealed_name(address)).unlink()
        Item.objects.filter(content_sha256=address).update(content_sha256=sha)
    (store_root / "keys.json").unlink()
    assert verify() == 0  # readable meanwhile
    call_command("encrypt_blobs")
    call_command("encrypt_blobs")  # resumable: nothing left to do
    for item in items:
        item.refresh_from_db()
        assert blob_store().is_sealed(item.content_sha256)
    assert not any(p.is_file() for p in store_root.glob("[0-9a-f][0-9a-f]/*/*"))
    assert json.loads((store_root / "keys.json").read_text())["encryption_keys"]
    assert verify() == 0


def test_the_daily_slices_cover_every_address_once_per_cycle(settings):
    settings.BLOB_VERIFY_SLICES = 7
    start = date(2026, 12, 1)
    bounds = sorted(content_check.slice_bounds(start + timedelta(days=n), 7) for n in range(7))
    assert bounds[0][0] == "0000"
    assert bounds[-1][1] is None
    for (_, high), (low, _) in itertools.pairwise(bounds):
        assert high == low
    assert "verify-blob-slice" in settings.CELERY_BEAT_SCHEDULE


def test_todays_slice_checks_only_its_share(sandbox, store_root, settings):
    back_up_drive("alice")
    settings.BLOB_VERIFY_SLICES = 1
    everything = content_check.verify_todays_slice().checked
    assert everything == len(list(content_check.addresses()))
    settings.BLOB_VERIFY_SLICES = 1000
    assert content_check.verify_todays_slice().checked < everything


@pytest.fixture
def worker_with_dead_store(celery_worker):
    """The session's worker restarted with an S3 store nobody answers at."""
    original = dict(celery_worker.env)
    celery_worker.stop()
    celery_worker.env = {
        **original,
        "BLOB_STORE_URL": "s3://lifeboat-unreachable/blobs",
        "BLOB_S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
        "BLOB_S3_REGION": "eu-west-1",
        "BLOB_S3_ACCESS_KEY_ID": "x",
        "BLOB_S3_SECRET_ACCESS_KEY": "y",
    }
    celery_worker.start()
    yield celery_worker
    celery_worker.stop()
    celery_worker.env = original
    celery_worker.start()


def test_an_unreachable_store_makes_jobs_wait_with_a_reason_and_healthz_say_so(
    sandbox, alice, worker_with_dead_store, settings, client
):
    point = back_up_mailbox("alice")
    inbox = point.object.folders.get(path="Inbox")
    settings.BLOB_STORE_URL = "s3://lifeboat-unreachable/blobs"
    settings.BLOB_S3_ENDPOINT_URL = worker_with_dead_store.env["BLOB_S3_ENDPOINT_URL"]
    health = client.get("/healthz").json()
    assert health["status"] == "degraded"
    assert "cannot be reached" in health["content"]["store"]

    job = jobs.create_job(Scope.for_user(alice), point, [], [inbox.pk], "folder", "Back", "skip")
    wait_for(
        lambda: RestoreJob.objects.get(pk=job.pk).waiting_reason,
        timeout=60,
        message="the job did not say it waits for the store",
    )
    job.refresh_from_db()
    assert job.status == RestoreJob.Status.QUEUED
    assert job.waiting_reason.startswith("Waiting for the backup store")
    assert "cannot be reached" in job.waiting_reason
    assert not job.job_items.filter(status=RestoreJobItem.Status.DONE).exists()
    assert job.items_done == 0
    assert point.object.workload == Workload.MAIL


def test_a_download_while_the_store_is_unreachable_says_so_and_records_nothing(
    sandbox, alice, settings, client
):
    point = back_up_mailbox("alice")
    items = list(Item.objects.filter(object=point.object).exclude(content_sha256="")[:2])
    job = jobs.create_job(
        Scope.for_user(alice), point.pk, [i.pk for i in items], [], RestoreJob.Target.DOWNLOAD
    )
    prepared = (job.status, job.items_done, job.log.count())
    settings.BLOB_STORE_URL = "s3://lifeboat-unreachable/blobs"
    settings.BLOB_S3_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"
    client.force_login(alice)
    answer = client.get(f"/backups/jobs/{job.pk}/download")
    assert answer.status_code == 503
    assert "cannot be reached" in answer.content.decode()
    job.refresh_from_db()
    # Nothing recorded: still ready to download as prepared, no item left out, no fetch.
    assert (job.status, job.items_done, job.log.count()) == prepared
    assert not AuditEvent.objects.filter(action="restore.downloaded", target=str(job.pk))


def test_a_zip_leaves_out_missing_and_tampered_content_and_keeps_the_rest_in_order(
    sandbox, alice, store_root, client
):
    point = back_up_drive("alice")
    files = list(
        Item.objects.filter(object=point.object, kind="file")
        .exclude(content_sha256="")
        .order_by("folder__path", "dated_at", "id")
    )
    unique: dict[str, Item] = {}
    for item in files:
        unique.setdefault(item.content_sha256, item)
    assert len(unique) >= 4
    missing, tampered = list(unique.values())[1:3]
    gone = {missing.content_sha256, tampered.content_sha256}
    blob_path(store_root, missing).unlink()
    damaged = bytearray(blob_path(store_root, tampered).read_bytes())
    damaged[-1] ^= 1
    blob_path(store_root, tampered).write_bytes(bytes(damaged))
    job = jobs.create_job(
        Scope.for_user(alice), point.pk, [i.pk for i in files], [], RestoreJob.Target.DOWNLOAD
    )
    client.force_login(alice)
    answer = client.get(f"/backups/jobs/{job.pk}/download")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(answer.streaming_content)))
    kept = [i for i in files if i.content_sha256 not in gone]
    assert [name.rsplit("/", 1)[-1] for name in archive.namelist()] == [i.name for i in kept]
    assert archive.testzip() is None
    for item, name in zip(kept, archive.namelist(), strict=True):
        with blob_store().open(item.content_sha256) as stream:
            assert archive.read(name) == stream.read()
    job.refresh_from_db()
    assert (job.items_done, job.items_failed) == (len(kept), len(files) - len(kept))
    log = "\n".join(job.log.values_list("message", flat=True))
    assert f"Left out: “{missing.name}”. Its content is missing from the backup store." in log
    assert f"Left out: “{tampered.name}”. Its content failed its integrity check." in log
