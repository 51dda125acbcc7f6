"""The sandbox throttles as Microsoft documents (docs/sandbox.md): sliding windows, not
windows aligned to the clock; Outlook's upload budget per mailbox; SharePoint's resource
units per app and tenant; Outlook's upload sessions for large attachments."""

from __future__ import annotations

import time

import pytest

from sandbox.graph.throttling import resource_units
from tests.sandbox.graph import Graph, app_token, error_code

ALICE = "users/alice@contoso.example"
BOB = "users/bob@contoso.example"


@pytest.fixture
def graph(sandbox) -> Graph:
    return Graph(app_token(sandbox))


def test_the_request_window_slides_instead_of_resetting_on_the_clock(sandbox, graph):
    window = 3
    sandbox.policy(mailbox_requests_per_window=4, mailbox_window_seconds=window)
    first = time.time()
    assert [graph.get(f"{ALICE}/mailFolders/inbox").status_code for _ in range(4)] == [200] * 4
    # Just past the next clock-aligned boundary a fixed window would start afresh.
    time.sleep(window - time.time() % window + 0.1)
    assert time.time() - first < window + 0.2

    throttled = graph.get(f"{ALICE}/mailFolders/inbox")

    assert throttled.status_code == 429
    assert "MailboxRequests" in throttled.json()["error"]["message"]
    retry_after = int(throttled.headers["Retry-After"])
    assert 1 <= retry_after <= window
    time.sleep(retry_after + window / 60)  # at most one bucket late
    assert graph.get(f"{ALICE}/mailFolders/inbox").status_code == 200


def message_of(size: int) -> dict:
    return {"subject": "Upload budget", "body": {"contentType": "text", "content": "x" * size}}


def test_uploads_to_a_mailbox_are_limited_per_window(sandbox, graph):
    sandbox.policy(mailbox_upload_bytes_per_window=10_000, mailbox_upload_window_seconds=300)

    first = graph.post(f"{ALICE}/mailFolders/drafts/messages", json=message_of(6_000))
    second = graph.post(f"{ALICE}/mailFolders/drafts/messages", json=message_of(6_000))

    assert first.status_code == 201
    assert second.status_code == 429
    assert error_code(second) == "ApplicationThrottled"
    assert "MailboxUpload" in second.json()["error"]["message"]
    # The first upload leaves the 5-minute window (counted in 5-s buckets) in 5 minutes.
    assert 295 <= int(second.headers["Retry-After"]) <= 300
    # Reads upload nothing; another mailbox has its own budget.
    assert graph.get(f"{ALICE}/mailFolders/drafts").status_code == 200
    assert graph.post(f"{BOB}/mailFolders/drafts/messages", json=message_of(6_000)).ok


def start_upload(graph: Graph, size: int) -> tuple[str, str]:
    draft = graph.ok("POST", f"{ALICE}/mailFolders/drafts/messages", json={"subject": "Big"})
    session = graph.ok(
        "POST",
        f"{ALICE}/messages/{draft['id']}/attachments/createUploadSession",
        json={"AttachmentItem": {"attachmentType": "file", "name": "big.bin", "size": size}},
    )
    assert session["nextExpectedRanges"] == ["0"]
    return draft["id"], session["uploadUrl"]


def put_range(graph: Graph, url: str, data: bytes, start: int, total: int):
    headers = {"Content-Range": f"bytes {start}-{start + len(data) - 1}/{total}"}
    return graph.session.put(url, data=data, headers=headers)


def test_a_large_attachment_arrives_through_an_upload_session(sandbox, graph):
    content = bytes(range(256)) * (5 * 4096)  # 5 MiB
    message_id, url = start_upload(graph, len(content))
    four_mb = 4 * 1024 * 1024

    first = put_range(graph, url, content[:four_mb], 0, len(content))
    last = put_range(graph, url, content[four_mb:], four_mb, len(content))

    assert first.status_code == 200
    assert first.json()["nextExpectedRanges"] == [str(four_mb)]
    assert last.status_code == 201
    assert "/Attachments('" in last.headers["Location"]
    [attachment] = graph.ok("GET", f"{ALICE}/messages/{message_id}/attachments")["value"]
    assert (attachment["name"], attachment["size"]) == ("big.bin", len(content))
    raw = graph.get(f"{ALICE}/messages/{message_id}/attachments/{attachment['id']}/$value")
    assert raw.content == content


def test_upload_session_ranges_count_towards_the_upload_budget(sandbox, graph):
    message_id, url = start_upload(graph, 5 * 1024 * 1024)
    sandbox.policy(mailbox_upload_bytes_per_window=4_500_000)
    four_mb = 4 * 1024 * 1024

    assert put_range(graph, url, b"a" * four_mb, 0, 5 * 1024 * 1024).status_code == 200
    refused = put_range(graph, url, b"b" * (1024 * 1024), four_mb, 5 * 1024 * 1024)

    assert refused.status_code == 429
    assert "MailboxUpload" in refused.json()["error"]["message"]
    assert int(refused.headers["Retry-After"]) >= 1
    assert graph.ok("GET", f"{ALICE}/messages/{message_id}/attachments")["value"] == []


def test_sharepoint_counts_resource_units_per_app_and_tenant(sandbox, graph):
    sandbox.policy(sharepoint_units=5, sharepoint_window_seconds=60)
    children = f"{ALICE}/drive/root/children"  # a listing: 2 resource units

    statuses = [graph.get(children).status_code for _ in range(3)]
    other_user = graph.get(f"{BOB}/drive/root/children")

    assert statuses == [200, 200, 429]
    assert other_user.status_code == 429  # the budget is the app's in the tenant
    assert "ResourceUnitsPerMinute" in other_user.json()["error"]["message"]
    assert 55 <= int(other_user.headers["Retry-After"]) <= 60
    assert graph.get(f"{ALICE}/mailFolders/inbox").status_code == 200  # Outlook's own limits


@pytest.mark.parametrize(
    ("method", "path", "query", "units"),
    [
        ("GET", "drives/b!x/items/01ABC", {}, 1),
        ("GET", "drives/b!x/items/01ABC/content", {}, 1),
        ("GET", "drives/b!x/root/delta", {"token": "abc"}, 1),
        ("GET", "drives/b!x/root/delta", {}, 2),
        ("GET", "drives/b!x/items/01ABC/children", {}, 2),
        ("PUT", "drives/b!x/items/01ABC:/a.txt:/content", {}, 2),
        ("DELETE", "drives/b!x/items/01ABC", {}, 2),
        ("GET", "drives/b!x/items/01ABC/permissions", {}, 5),
        ("GET", "drives/b!x/items/01ABC", {"$expand": "permissions"}, 5),
    ],
)
def test_resource_unit_costs_follow_microsofts_table(method, path, query, units):
    assert resource_units(method, path, query) == units
