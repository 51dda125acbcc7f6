"""Outlook mail through Graph: folders, listing, delta, MIME, restores with extended
properties, moves, deletes, attachments."""

from __future__ import annotations

import base64
import email
import email.policy
from typing import cast

import pytest

from tests.sandbox.graph import Graph, app_token, error_code, user_token

MARKER = "String {6c5b7f2a-1d3e-4f5a-9b8c-7d6e5f4a3b2c} Name LifeboatRestoreId"
ALICE = "users/alice@contoso.example"


@pytest.fixture
def graph(sandbox) -> Graph:
    return Graph(app_token(sandbox))


def test_folder_tree_with_well_known_names(graph):
    top = graph.ok("GET", f"{ALICE}/mailFolders")["value"]
    names = {f["displayName"] for f in top}
    inbox = graph.ok("GET", f"{ALICE}/mailFolders/inbox")
    children = graph.ok("GET", f"{ALICE}/mailFolders/inbox/childFolders")["value"]
    projects = next(f for f in children if f["displayName"] == "Projects")
    nested = graph.ok("GET", f"{ALICE}/mailFolders/{projects['id']}/childFolders")["value"]

    assert {"Inbox", "Drafts", "Sent Items", "Deleted Items", "Archive", "Junk Email"} <= names
    assert inbox["displayName"] == "Inbox"
    assert inbox["childFolderCount"] == 2
    assert inbox["totalItemCount"] > 0
    assert {f["displayName"] for f in children} == {"Projects", "Newsletters"}
    assert [f["displayName"] for f in nested] == ["Q3"]
    assert nested[0]["parentFolderId"] == projects["id"]


def test_create_a_folder_and_refuse_a_duplicate(graph):
    created = graph.post(f"{ALICE}/mailFolders", json={"displayName": "Restored items"})
    again = graph.post(f"{ALICE}/mailFolders", json={"displayName": "Restored items"})
    child = graph.post(
        f"{ALICE}/mailFolders/{created.json()['id']}/childFolders", json={"displayName": "2024"}
    )

    assert created.status_code == 201
    assert again.status_code == 409
    assert child.json()["parentFolderId"] == created.json()["id"]


def test_list_select_filter_order_and_paging(graph):
    page = graph.ok(
        "GET", f"{ALICE}/mailFolders/inbox/messages?$select=subject,receivedDateTime&$top=5"
    )
    everything, _ = graph.all(
        f"{ALICE}/mailFolders/inbox/messages?$top=7&$orderby=receivedDateTime desc"
    )
    unread = graph.ok("GET", f"{ALICE}/messages?$filter=isRead eq false&$top=100")["value"]
    budget = graph.ok("GET", f"{ALICE}/messages?$filter=subject eq 'Q3 budget — final'")["value"]
    recent = graph.ok(
        "GET",
        f"{ALICE}/messages?$filter=receivedDateTime ge 2025-09-29T00:00:00Z and hasAttachments eq true",
    )["value"]

    assert len(page["value"]) == 5
    assert set(page["value"][0]) == {"@odata.etag", "id", "subject", "receivedDateTime"}
    assert "$skip=5" in page["@odata.nextLink"]
    received = [m["receivedDateTime"] for m in everything]
    assert received == sorted(received, reverse=True)
    assert (
        len({m["id"] for m in everything})
        == len(everything)
        == graph.ok("GET", f"{ALICE}/mailFolders/inbox")["totalItemCount"]
    )
    assert unread
    assert all(m["isRead"] is False for m in unread)
    [message] = budget
    assert message["from"]["emailAddress"]["address"] == "bob@contoso.example"
    assert message["hasAttachments"] is True
    assert message["isDraft"] is False
    assert message["id"] in {m["id"] for m in recent}
    by_id = graph.ok(
        "GET", f"{ALICE}/messages?$filter=internetMessageId eq '{message['internetMessageId']}'"
    )
    assert [m["id"] for m in by_id["value"]] == [message["id"]]


def test_malformed_filter_is_a_bad_request(graph):
    response = graph.get(f"{ALICE}/messages?$filter=subject eq")
    unknown = graph.get(f"{ALICE}/messages?$filter=noSuchProperty eq 1")

    assert response.status_code == 400
    assert unknown.status_code == 400


def test_message_get_value_and_sensitivity_label(graph):
    [labelled] = graph.ok(
        "GET", f"{ALICE}/messages?$filter=subject eq 'Board deck (Confidential)'"
    )["value"]

    full = graph.ok(
        "GET",
        f"{ALICE}/messages/{labelled['id']}?$select=subject,internetMessageHeaders,body"
        "&$expand=singleValueExtendedProperties($filter=id eq 'Integer 0x0036')",
    )
    raw = graph.get(f"{ALICE}/messages/{labelled['id']}/$value")
    mime = email.message_from_bytes(raw.content, policy=email.policy.default)

    headers = {h["name"]: h["value"] for h in full["internetMessageHeaders"]}
    assert "MSIP_Label_" in headers["msip_labels"]
    assert "Name=Confidential" in headers["msip_labels"]
    assert full["singleValueExtendedProperties"] == [{"id": "Integer 0x36", "value": "3"}]
    assert "internetMessageHeaders" not in graph.ok("GET", f"{ALICE}/messages/{labelled['id']}")
    assert raw.status_code == 200
    assert mime["Subject"] == "Board deck (Confidential)"
    assert "Name=Confidential" in mime["msip_labels"]
    [pdf] = list(mime.iter_attachments())
    assert pdf.get_filename() == "Board deck.pdf"
    assert cast(bytes, pdf.get_payload(decode=True)).startswith(b"%PDF")


def restored_message(marker_value: str, *, flags: str = "1") -> dict:
    return {
        "subject": "Restored: quarterly numbers",
        "body": {"contentType": "html", "content": "<p>Numbers <b>attached</b></p>"},
        "from": {"emailAddress": {"name": "Bob Lee", "address": "bob@contoso.example"}},
        "toRecipients": [{"emailAddress": {"address": "alice@contoso.example"}}],
        "singleValueExtendedProperties": [
            {"id": "Integer 0x0E07", "value": flags},
            {"id": "SystemTime 0x0039", "value": "2024-03-04T10:00:00Z"},
            {"id": "SystemTime 0x0E06", "value": "2024-03-04T10:05:00Z"},
            {"id": MARKER, "value": marker_value},
        ],
    }


def test_restore_with_extended_properties_is_not_a_draft_and_keeps_dates(graph):
    created = graph.post(
        f"{ALICE}/mailFolders/inbox/messages", json=restored_message("backup-42:item-7")
    )
    unread = graph.post(
        f"{ALICE}/mailFolders/inbox/messages", json=restored_message("backup-42:item-8", flags="0")
    )
    found = graph.ok(
        "GET",
        f"{ALICE}/mailFolders/inbox/messages?$filter=singleValueExtendedProperties/any(ep: ep/id eq "
        f"'{MARKER}' and ep/value eq 'backup-42:item-7')"
        f"&$expand=singleValueExtendedProperties($filter=id eq '{MARKER}')",
    )["value"]

    assert created.status_code == 201
    message = created.json()
    assert message["isDraft"] is False
    assert message["isRead"] is True
    assert message["sentDateTime"] == "2024-03-04T10:00:00Z"
    assert message["receivedDateTime"] == "2024-03-04T10:05:00Z"
    assert message["from"]["emailAddress"]["address"] == "bob@contoso.example"
    assert unread.json()["isRead"] is False
    assert unread.json()["isDraft"] is False
    assert [m["id"] for m in found] == [message["id"]]
    assert found[0]["singleValueExtendedProperties"] == [
        {"id": MARKER, "value": "backup-42:item-7"}
    ]


def test_json_message_without_flags_is_a_draft(graph):
    message = graph.ok("POST", f"{ALICE}/messages", json={"subject": "Just a draft"})

    assert message["isDraft"] is True
    assert graph.ok("GET", f"{ALICE}/mailFolders/drafts")["id"] == message["parentFolderId"]


def test_mime_message_is_always_a_draft(graph):
    mime = (
        "From: Bob Lee <bob@contoso.example>\r\nTo: alice@contoso.example\r\n"
        "Subject: From MIME\r\nDate: Mon, 04 Mar 2024 10:00:00 +0000\r\n"
        "Message-ID: <mime-1@contoso.example>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nHello from MIME.\r\n"
    )
    response = graph.post(
        f"{ALICE}/messages",
        data=base64.b64encode(mime.encode()),
        headers={"Content-Type": "text/plain"},
    )
    broken = graph.post(
        f"{ALICE}/messages", data=b"not base64!!", headers={"Content-Type": "text/plain"}
    )

    assert response.status_code == 201, response.text
    message = response.json()
    assert message["isDraft"] is True
    assert message["subject"] == "From MIME"
    assert message["internetMessageId"] == "<mime-1@contoso.example>"
    assert message["sentDateTime"] == "2024-03-04T10:00:00Z"
    assert error_code(broken) == "ErrorMimeContentInvalidBase64String"


def test_move_gives_a_new_id_and_delete_goes_to_recoverable_items(graph):
    [message] = graph.ok("GET", f"{ALICE}/messages?$filter=subject eq 'Q3 budget — final'")["value"]

    moved = graph.ok(
        "POST", f"{ALICE}/messages/{message['id']}/move", json={"destinationId": "archive"}
    )
    gone = graph.get(f"{ALICE}/messages/{message['id']}")
    deleted = graph.delete(f"{ALICE}/messages/{moved['id']}")
    visible = graph.ok("GET", f"{ALICE}/messages?$filter=subject eq 'Q3 budget — final'")["value"]
    recoverable = graph.ok("GET", f"{ALICE}/mailFolders/recoverableitemsdeletions/messages")[
        "value"
    ]

    assert moved["id"] != message["id"]
    assert moved["parentFolderId"] == graph.ok("GET", f"{ALICE}/mailFolders/archive")["id"]
    assert error_code(gone) == "ErrorItemNotFound"
    assert deleted.status_code == 204
    assert visible == []
    assert [m["subject"] for m in recoverable] == ["Q3 budget — final"]


def test_patch_is_read_and_copy(graph):
    [message] = graph.ok("GET", f"{ALICE}/messages?$filter=subject eq 'Q3 budget — final'")["value"]

    patched = graph.ok("PATCH", f"{ALICE}/messages/{message['id']}", json={"isRead": True})
    copy = graph.ok(
        "POST", f"{ALICE}/messages/{message['id']}/copy", json={"destinationId": "archive"}
    )
    subject_change = graph.patch(f"{ALICE}/messages/{message['id']}", json={"subject": "Changed"})

    assert patched["isRead"] is True
    assert copy["id"] != message["id"]
    assert copy["subject"] == message["subject"]
    assert graph.ok("GET", f"{ALICE}/messages/{message['id']}")["id"] == message["id"]
    assert subject_change.status_code == 400


def test_attachments_list_get_value_and_add(graph):
    [message] = graph.ok("GET", f"{ALICE}/messages?$filter=subject eq 'Q3 budget — final'")["value"]
    base = f"{ALICE}/messages/{message['id']}/attachments"

    [listed] = graph.ok("GET", base)["value"]
    one = graph.ok("GET", f"{base}/{listed['id']}")
    raw = graph.get(f"{base}/{listed['id']}/$value")
    added = graph.post(
        base,
        json={"@odata.type": "#microsoft.graph.fileAttachment", "name": "notes.txt",
              "contentType": "text/plain", "contentBytes": base64.b64encode(b"hello").decode()},
    )  # fmt: skip
    too_big = graph.post(
        base,
        json={"@odata.type": "#microsoft.graph.fileAttachment", "name": "big.bin",
              "contentBytes": base64.b64encode(b"x" * (3 * 1024 * 1024)).decode()},
    )  # fmt: skip

    assert listed["name"] == "Q3 budget final.xlsx"
    assert base64.b64decode(one["contentBytes"]) == raw.content
    assert raw.content.startswith(b"PK")  # an OOXML zip
    assert added.status_code == 201
    assert added.json()["size"] == 5
    assert too_big.status_code == 413
    assert len(graph.ok("GET", base)["value"]) == 2


def test_delta_sees_added_changed_moved_and_deleted(graph):
    folder = f"{ALICE}/mailFolders/inbox/messages/delta"
    prefer = {"Prefer": "odata.maxpagesize=10"}
    initial, last = graph.all(folder, headers=prefer)
    inbox = graph.ok("GET", f"{ALICE}/mailFolders/inbox")
    assert len(initial) == inbox["totalItemCount"]
    assert "@odata.deltaLink" in last
    ids = [m["id"] for m in initial]
    changed, moved, deleted = ids[0], ids[1], ids[2]

    added = graph.ok("POST", f"{ALICE}/mailFolders/inbox/messages", json=restored_message("new"))
    graph.ok("PATCH", f"{ALICE}/messages/{changed}", json={"isRead": False})
    graph.ok("POST", f"{ALICE}/messages/{moved}/move", json={"destinationId": "archive"})
    assert graph.delete(f"{ALICE}/messages/{deleted}").status_code == 204
    changes, last = graph.all(last["@odata.deltaLink"], headers=prefer)

    by_id = {c["id"]: c for c in changes}
    assert set(by_id) == {added["id"], changed, moved, deleted}
    assert by_id[added["id"]]["subject"] == "Restored: quarterly numbers"
    assert by_id[changed]["isRead"] is False
    assert by_id[moved]["@removed"] == {"reason": "deleted"}
    assert by_id[deleted]["@removed"] == {"reason": "deleted"}
    again, _ = graph.all(last["@odata.deltaLink"], headers=prefer)
    assert again == []


def test_another_users_mailbox_is_refused_to_a_delegated_token(sandbox):
    graph = Graph(user_token(sandbox, "alice"))

    own = graph.get("me/mailFolders/inbox/messages?$top=1")
    other = graph.get("users/bob@contoso.example/messages")

    assert own.status_code == 200
    assert other.status_code == 403
    assert error_code(other) == "ErrorAccessDenied"


def test_unknown_mailbox_and_message(graph):
    assert error_code(graph.get("users/nobody@contoso.example/messages")) == "ErrorInvalidUser"
    assert error_code(graph.get(f"{ALICE}/messages/AAMkADnotamessage=")) == "ErrorItemNotFound"
