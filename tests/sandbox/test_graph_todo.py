"""Microsoft To Do (and the attachment upload sessions of To Do and Outlook events)
through the sandbox's Graph, against Microsoft's documented behaviour (docs/sandbox.md,
"To Do")."""

from __future__ import annotations

import base64

import pytest

from portal.microsoft import http_session
from sandbox import demo, todo_content
from tests.sandbox.graph import Graph, app_token, error_code, user_token

ALICE = "users/alice@contoso.example"


@pytest.fixture
def graph(sandbox) -> Graph:
    return Graph(app_token(sandbox))


@pytest.fixture
def alice(sandbox) -> Graph:
    return Graph(user_token(sandbox, "alice", ["Tasks.ReadWrite", "Calendars.ReadWrite"]))


def _q3(graph: Graph) -> dict:
    lists = graph.ok("GET", f"{ALICE}/todo/lists")["value"]
    return next(entry for entry in lists if entry["displayName"] == todo_content.Q3)


def _report(graph: Graph, list_id: str) -> dict:
    tasks = graph.ok("GET", f"{ALICE}/todo/lists/{list_id}/tasks")["value"]
    return next(t for t in tasks if t["title"] == todo_content.REPORT)


def test_lists_tasks_and_their_parts_read_alike_with_app_and_delegated_tokens(graph, alice):
    q3 = _q3(graph)
    report = _report(graph, q3["id"])
    base = f"{ALICE}/todo/lists/{q3['id']}/tasks/{report['id']}"
    steps = graph.ok("GET", f"{base}/checklistItems")["value"]
    linked = graph.ok("GET", f"{base}/linkedResources")["value"]
    attachments = graph.ok("GET", f"{base}/attachments")["value"]
    content = graph.ok("GET", f"{base}/attachments/{attachments[0]['id']}")

    assert [
        entry["wellknownListName"] for entry in graph.ok("GET", f"{ALICE}/todo/lists")["value"]
    ] == [
        "defaultList",
        "none",
    ]
    assert report["importance"] == "high"
    assert report["hasAttachments"] is True
    assert report["dueDateTime"]["timeZone"] == "W. Europe Standard Time"
    assert next((s["displayName"], s["isChecked"]) for s in steps) == (
        "Collect revenue figures",
        True,
    )
    assert linked[0]["applicationName"] == "Finance portal"
    assert base64.b64decode(content["contentBytes"]) == todo_content.OUTLINE
    assert _report(alice, q3["id"]) == report


def test_people_reach_only_their_own_lists(sandbox, alice):
    bob = Graph(user_token(sandbox, "bob", ["Tasks.Read"]))

    assert bob.get(f"{ALICE}/todo/lists").status_code == 403
    assert alice.get("me/todo/lists").status_code == 200


def test_delta_reports_a_deleted_task_and_nothing_else_after_the_demo_changes(graph):
    q3 = _q3(graph)
    tasks, last = graph.all(f"{ALICE}/todo/lists/{q3['id']}/tasks/delta")
    demo.apply_demo_changes()
    changes, _ = graph.all(last["@odata.deltaLink"])

    assert len(tasks) == 3
    assert changes == [{"id": _report_id(tasks), "@removed": {"reason": "deleted"}}]


def _report_id(tasks: list[dict]) -> str:
    return next(t["id"] for t in tasks if t["title"] == todo_content.REPORT)


def test_create_with_an_open_extension_and_find_it_expanded(alice):
    q3 = _q3(alice)
    path = f"{ALICE}/todo/lists/{q3['id']}/tasks"
    extension = {"@odata.type": "microsoft.graph.openTypeExtension",
                 "extensionName": "com.lifeboat.restore", "marker": "7:9"}  # fmt: skip
    made = alice.ok("POST", path, json={"title": "Marked", "extensions": [extension]})
    listed = alice.ok("GET", f"{path}?$expand=extensions($filter=id eq 'com.lifeboat.restore')")
    bad = alice.post(path, json={"title": "Bad", "importance": "urgent"})

    found = next(t for t in listed["value"] if t["id"] == made["id"])
    assert found["extensions"][0]["marker"] == "7:9"
    assert (bad.status_code, error_code(bad)) == (400, "invalidRequest")


def test_the_task_attachment_upload_session_is_delegated_only_in_4_mb_ranges(sandbox, graph, alice):
    q3 = _q3(alice)
    base = f"{ALICE}/todo/lists/{q3['id']}/tasks/{_report(alice, q3['id'])['id']}/attachments"
    content = bytes(range(256)) * (5 * 4096)  # 5 MB
    info = {"attachmentInfo": {"attachmentType": "file", "name": "Big.bin", "size": len(content)}}

    refused = graph.post(f"{base}/createUploadSession", json=info)
    session = alice.ok("POST", f"{base}/createUploadSession", json=info)
    upload = http_session()  # the uploadUrl carries its own authorization
    too_big = upload.put(session["uploadUrl"], data=content[: 4 * 1024 * 1024 + 1],
                         headers={"Content-Range": f"bytes 0-{4 * 1024 * 1024}/{len(content)}"})  # fmt: skip
    first = upload.put(session["uploadUrl"], data=content[: 4 * 1024 * 1024],
                       headers={"Content-Range": f"bytes 0-{4 * 1024 * 1024 - 1}/{len(content)}"})  # fmt: skip
    last = upload.put(session["uploadUrl"], data=content[4 * 1024 * 1024 :],
                      headers={"Content-Range": f"bytes {4 * 1024 * 1024}-{len(content) - 1}/{len(content)}"})  # fmt: skip
    over = alice.post(
        f"{base}/createUploadSession",
        json={
            "attachmentInfo": {"attachmentType": "file", "name": "Huge", "size": 26 * 1024 * 1024}
        },
    )

    assert refused.status_code == 403
    assert too_big.status_code == 413
    assert first.json()["nextExpectedRanges"] == [str(4 * 1024 * 1024)]
    assert last.status_code == 201
    attachment_id = last.headers["Location"].rsplit("/attachments/", 1)[1]
    stored = alice.ok("GET", f"{base}/{attachment_id}")
    assert base64.b64decode(stored["contentBytes"]) == content
    assert over.status_code == 413


def test_an_event_attachment_upload_session_attaches_a_large_file(alice):
    events = alice.ok("GET", f"{ALICE}/calendar/events?$top=50&$select=id,subject")["value"]
    event = events[0]
    content = b"x" * (3 * 1024 * 1024 + 10)
    session = alice.ok(
        "POST",
        f"{ALICE}/events/{event['id']}/attachments/createUploadSession",
        json={
            "AttachmentItem": {"attachmentType": "file", "name": "Scan.pdf", "size": len(content)}
        },
    )
    done = http_session().put(
        session["uploadUrl"],
        data=content,
        headers={"Content-Range": f"bytes 0-{len(content) - 1}/{len(content)}"},
    )
    names = [
        a["name"]
        for a in alice.ok("GET", f"{ALICE}/events/{event['id']}/attachments?$select=name")["value"]
    ]

    assert done.status_code == 201
    assert "Scan.pdf" in names
