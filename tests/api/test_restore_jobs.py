"""Restore jobs over the API: the issue's end-to-end replay on a real worker, downloads,
cancel, paging, every bad input refused with nothing written, and every restore audited."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any
from urllib.parse import quote

import pytest

from api import tokens
from portal.models import AuditEvent
from restore.models import Item, RestoreJob, RestoreJobItem
from sandbox import constants
from tests.conftest import wait_for
from tests.restore import factories as f
from tests.restore.jobs_support import back_up_mailbox

from .conftest import GRAPH_SCOPES

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def bearer_of(user) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.issue(user, grant='operator').access_token}"}


# --- The replay, end to end over HTTP, on a real Celery worker --------------------


@pytest.mark.django_db(transaction=True)
def test_device_code_to_portal_token_search_restore_and_the_message_is_back(
    operator, sandbox, celery_worker
):
    """device code → Microsoft token → portal token → search → restore → job completes →
    the message is back in the sandbox mailbox, as a received message in its folder."""
    from sandbox.models import Message

    point = back_up_mailbox("alice")
    budget = Item.objects.get(object=point.object, name="Q3 budget — final")
    original = Message.objects.get(id=budget.graph_id)
    inbox_id, received = original.folder_id, original.received_at
    original.delete()

    microsoft = operator.microsoft_tokens("alice", GRAPH_SCOPES)
    issued = operator.token(
        {"grant_type": JWT_BEARER, "client_id": constants.TENANT_DOMAIN,
         "assertion": json.dumps(microsoft)}
    )  # fmt: skip
    assert issued.status_code == 200, issued.text
    access = issued.json()["access_token"]

    objects = operator.get("/objects", access)
    assert objects.status_code == 200, objects.text
    mailbox = next(o for o in objects.json()["items"] if o["workload"] == "mail")
    found = operator.get(f"/objects/{mailbox['id']}/items?q={quote('Q3 budget')}", access)
    assert found.status_code == 200, found.text
    hits = found.json()
    assert budget.pk in [i["id"] for i in hits["items"]]

    started = operator.post(
        "/restore-jobs",
        access,
        json={
            "restore_point": hits["restore_point"],
            "items": [budget.pk],
            "target": {"kind": "original"},
            "collision": "skip",
        },
    )
    assert started.status_code == 202, started.text
    job = started.json()
    assert job["status"] == "queued"
    assert job["items_total"] == 1

    def finished():
        answer = operator.get(f"/restore-jobs/{job['id']}", access).json()
        return answer if answer["status"] not in ("queued", "running") else None

    done = wait_for(finished, timeout=60, interval=0.3)
    log = operator.get(f"/restore-jobs/{job['id']}/log", access).json()["items"]
    assert done["status"] == "completed", log
    assert (done["items_done"], done["items_failed"], done["bytes_done"]) == (1, 0, budget.size)
    assert (done["items_verified"], done["items_unverified"]) == (1, 0)
    assert done["finished_at"]
    back = Message.objects.get(
        mailbox__user_principal_name__startswith="alice@", subject=budget.name
    )
    assert back.folder_id == inbox_id
    assert back.is_draft is False
    assert back.received_at == received
    assert log[0]["message"].startswith("Restore of 1 item")
    audited = AuditEvent.objects.filter(target=job["id"]).values_list("action", flat=True)
    assert {"restore.requested", "restore.finished"} <= set(audited)
    assert operator.get("/restore-jobs", access).json()["items"][0]["id"] == job["id"]


# --- Factory catalog: no Microsoft needed for these -------------------------------------


@pytest.fixture
def alice(db):
    return f.user("alice")


@pytest.fixture
def box(alice):
    return f.mailbox(alice, points=1, messages=4)


@pytest.fixture
def drive(alice):
    obj = f.protected_object(alice, workload="onedrive")
    point = f.point(obj, 1)
    root = f.folder(obj, "", well_known="root")
    docs = f.folder(obj, "Documents", parent=root)
    files = [f.file(obj, docs, f"report-{n}.txt", f"report {n}".encode()) for n in range(3)]
    return {"object": obj, "point": point, "root": root, "docs": docs, "files": files}


@pytest.fixture
def call(client, alice):
    headers = bearer_of(alice)

    def send(method: str, path: str, body=None):
        kwargs: dict[str, Any] = {"headers": headers}
        if body is not None:
            kwargs |= {"data": body if isinstance(body, str) else json.dumps(body),
                       "content_type": "application/json"}  # fmt: skip
        return getattr(client, method)(f"/api/v1{path}", **kwargs)

    return send


def restore_body(box, **changes):
    body = {
        "restore_point": box["points"][0].pk,
        "items": [box["items"][0].pk],
        "target": {"kind": "original"},
        "collision": "skip",
    }
    return body | changes


def test_a_restore_is_queued_202_with_its_progress_fields_and_audited(call, box, alice):
    answer = call("post", "/restore-jobs", restore_body(box, items=[i.pk for i in box["items"]]))
    assert answer.status_code == 202, answer.content
    job = answer.json()
    assert job["status"] == "queued"
    assert job["items_total"] == 4
    assert {"id", "status", "items_total", "items_done", "items_failed", "items_skipped",
            "bytes_done", "created_at", "finished_at", "waiting_reason"} <= set(job)  # fmt: skip
    assert job["download_url"] is None
    event = AuditEvent.objects.get(action="restore.requested")
    assert event.target == job["id"]
    assert event.actor_identity == alice.identity
    assert event.details["items"] == 4
    assert call("get", f"/restore-jobs/{job['id']}").json()["id"] == job["id"]


def test_folders_expand_to_their_items(call, box):
    extra = f.message(box["object"], box["projects"], "Deep one")
    body = restore_body(
        box, items=[], folders=[box["inbox"].pk], target={"kind": "folder", "name": "Back"}
    )
    job = call("post", "/restore-jobs", body).json()
    assert job["items_total"] == 5
    assert job["target"] == {"kind": "folder", "name": "Back", "object_id": None}
    assert RestoreJobItem.objects.filter(job_id=job["id"], item=extra).exists()


def test_a_download_job_streams_a_zip_and_completes(call, drive):
    body = {
        "restore_point": drive["point"].pk,
        "items": [i.pk for i in drive["files"]],
        "target": {"kind": "download"},
    }
    job = call("post", "/restore-jobs", body).json()
    assert job["download_url"] == f"/api/v1/restore-jobs/{job['id']}/download"
    # Prepared at once: completed before anything is fetched, with an expiry.
    assert (job["status"], job["items_done"]) == ("completed", 3)
    assert job["download_expires_at"]
    answer = call("get", f"/restore-jobs/{job['id']}/download")
    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(answer.streaming_content)))
    assert sorted(archive.namelist()) == [f"Documents/report-{n}.txt" for n in range(3)]
    assert archive.read("Documents/report-1.txt") == b"report 1"
    after = call("get", f"/restore-jobs/{job['id']}").json()
    assert (after["status"], after["items_done"]) == ("completed", 3)
    assert AuditEvent.objects.filter(action="restore.downloaded", target=job["id"]).exists()


def test_overwrite_is_for_files(call, drive):
    body = {"restore_point": drive["point"].pk, "items": [drive["files"][0].pk],
            "target": {"kind": "original"}, "collision": "overwrite"}  # fmt: skip
    answer = call("post", "/restore-jobs", body)
    assert answer.status_code == 202, answer.content
    assert answer.json()["collision"] == "overwrite"


def test_cancel_a_queued_job_then_again_is_409(call, box):
    job = call("post", "/restore-jobs", restore_body(box)).json()
    answer = call("post", f"/restore-jobs/{job['id']}/cancel")
    assert answer.status_code == 200, answer.content
    assert answer.json()["status"] == "cancelled"
    again = call("post", f"/restore-jobs/{job['id']}/cancel")
    assert again.status_code == 409
    assert again.json()["error"] == "conflict"
    assert AuditEvent.objects.filter(action="restore.cancelled", target=job["id"]).count() == 1
    log = call("get", f"/restore-jobs/{job['id']}/log").json()["items"]
    assert log[-1]["message"].startswith("Cancelled by")


def test_a_restore_that_is_no_download_has_no_download(call, box):
    job = call("post", "/restore-jobs", restore_body(box)).json()
    answer = call("get", f"/restore-jobs/{job['id']}/download")
    assert answer.status_code == 404
    assert answer.json()["error_description"] == "This restore job is not a download."


def test_my_jobs_newest_first_paged(call, box):
    ids = [call("post", "/restore-jobs", restore_body(box)).json()["id"] for _ in range(3)]
    first = call("get", "/restore-jobs?page_size=2").json()
    second = call("get", "/restore-jobs?page_size=2&page=2").json()
    assert first["count"] == 3
    assert [j["id"] for j in first["items"] + second["items"]] == ids[::-1]


BAD_INPUT = [
    ("missing restore_point", lambda b: {k: v for k, v in b.items() if k != "restore_point"},
     400, "restore_point"),
    ("missing items", lambda b: {k: v for k, v in b.items() if k != "items"}, 400, "items"),
    ("missing target", lambda b: {k: v for k, v in b.items() if k != "target"}, 400, "target"),
    ("extra field", lambda b: b | {"point": 1}, 400, "point"),
    ("extra target field", lambda b: b | {"target": {"kind": "original", "x": 1}}, 400, "x"),
    ("items not a list", lambda b: b | {"items": "1,2"}, 400, "items"),
    ("item not a number", lambda b: b | {"items": ["abc"]}, 400, "items"),
    ("negative item id", lambda b: b | {"items": [-1]}, 400, "items"),
    ("huge item id", lambda b: b | {"items": [2**70]}, 400, "items"),
    ("empty item list", lambda b: b | {"items": []}, 400, "at least one item"),
    ("too many items", lambda b: b | {"items": list(range(1, 10_002))}, 400, "10000"),
    ("unknown target kind", lambda b: b | {"target": {"kind": "elsewhere"}}, 400, "kind"),
    ("unknown collision", lambda b: b | {"collision": "replace"}, 400, "collision"),
    ("overwrite for mail", lambda b: b | {"collision": "overwrite"}, 400,
     "Overwrite is not available for mailbox items"),
    ("bad folder name", lambda b: b | {"target": {"kind": "folder", "name": "a/b"}}, 400,
     "folder name"),
    ("long folder name", lambda b: b | {"target": {"kind": "folder", "name": "x" * 256}}, 400,
     "name"),
    ("unknown item", lambda b: b | {"items": [987654321]}, 404, "not in this restore point"),
    ("unknown folder", lambda b: b | {"folders": [987654321]}, 404, "not in this restore point"),
    ("unknown restore point", lambda b: b | {"restore_point": 987654321}, 404, "Not found"),
    ("not JSON", lambda b: "items=1", 400, ""),
    ("JSON not an object", lambda b: [1, 2], 400, ""),
]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "status", "says"), [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT]
)
def test_bad_restore_input_is_refused_precisely_with_nothing_written(
    call, box, change, status, says
):
    answer = call("post", "/restore-jobs", change(restore_body(box)))
    assert answer.status_code == status, answer.content
    body = answer.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == ("invalid_request" if status == 400 else "not_found")
    assert says in body["error_description"]
    assert not RestoreJob.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="restore.").exists()


@pytest.mark.django_db(transaction=True)
def test_a_dry_run_answers_the_plan_and_writes_nothing(operator, sandbox):
    from sandbox.models import Message

    point = back_up_mailbox("alice")
    budget = Item.objects.get(object=point.object, name="Q3 budget — final")
    other = Item.objects.filter(object=point.object, folder__path="Inbox").exclude(pk=budget.pk)[0]
    Message.objects.filter(id=budget.graph_id).delete()
    messages = Message.objects.count()
    microsoft = operator.microsoft_tokens("alice", GRAPH_SCOPES)
    issued = operator.token(
        {"grant_type": JWT_BEARER, "client_id": constants.TENANT_DOMAIN,
         "assertion": json.dumps(microsoft)}
    )  # fmt: skip
    access = issued.json()["access_token"]
    body = {
        "restore_point": point.pk,
        "items": [budget.pk, other.pk],
        "target": {"kind": "original"},
        "collision": "skip",
        "dry_run": True,
    }
    answer = operator.post("/restore-jobs", access, json=body)
    assert answer.status_code == 200, answer.text
    plan = answer.json()
    assert plan["dry_run"] is True
    assert plan["totals"] == {"restore": 1, "skip": 1, "keep_both": 0, "overwrite": 0, "cannot": 0}
    actions = {p["item_id"]: p["action"] for p in plan["items"]}
    assert actions == {budget.pk: "restore", other.pk: "skip"}
    assert (RestoreJob.objects.count(), Message.objects.count()) == (0, messages)

    bad = operator.post("/restore-jobs", access, json={**body, "items": []})
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_request"
