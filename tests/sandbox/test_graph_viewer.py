"""The sandbox's content pages: a person can watch restores land in mailboxes and drives."""

from __future__ import annotations

import re

import requests

from tests.sandbox.graph import Graph, app_token


def test_home_links_to_mailboxes_and_drives(sandbox):
    home = requests.get(f"{sandbox.url}/", timeout=10)
    alice = sandbox.user("alice")

    assert f"/sandbox/mail/{alice.id}/" in home.text
    assert "/sandbox/drives/" in home.text
    assert "Finance" in home.text  # a group drive
    assert "Finance - Audit / Documents" in home.text  # a private channel's library
    assert "Projects / Plans" in home.text  # a communication site's second library


def test_mailbox_shows_folders_messages_and_flags(sandbox):
    alice = sandbox.user("alice")

    inbox = requests.get(f"{sandbox.url}/mail/{alice.id}/", timeout=10)
    link = re.search(r'href="([^"]+)">Q3 budget — final<', inbox.text)
    message = requests.get(f"{sandbox.url.removesuffix('/sandbox')}{link.group(1)}", timeout=10)

    assert inbox.status_code == 200
    assert "Projects" in inbox.text
    assert "Sent Items" in inbox.text
    assert "Q3 budget — final" in message.text
    assert "unread, not a draft" in message.text
    assert "Q3 budget final.xlsx" in message.text


def test_message_html_is_shown_escaped_never_as_markup(sandbox):
    graph = Graph(app_token(sandbox))
    created = graph.ok(
        "POST",
        "users/alice@contoso.example/mailFolders/inbox/messages",
        json={
            "subject": "Hostile",
            "body": {
                "contentType": "html",
                "content": '<p>Hi</p><script>alert("x")</script><img src=x onerror=alert(1)>',
            },
            "singleValueExtendedProperties": [{"id": "Integer 0x0E07", "value": "1"}],
        },
    )

    page = requests.get(
        f"{sandbox.url}/mail/{sandbox.user('alice').id}/messages/{created['id']}/", timeout=10
    )

    assert page.status_code == 200
    assert "<script>alert" not in page.text
    assert "<img src=x" not in page.text
    assert "&lt;script&gt;" in page.text
    assert "script-src" in page.headers["Content-Security-Policy"]


def test_drive_viewer_lists_folders_and_versions(sandbox):
    graph = Graph(app_token(sandbox))
    drive = graph.ok("GET", "users/alice@contoso.example/drive")
    graph.ok(
        "PUT", "users/alice@contoso.example/drive/root:/Restored/report.txt:/content", data=b"a"
    )
    graph.ok(
        "PUT", "users/alice@contoso.example/drive/root:/Restored/report.txt:/content", data=b"b"
    )

    root = requests.get(f"{sandbox.url}/drives/{drive['id']}/", timeout=10)
    restored = re.search(r'href="([^"]+)">Restored<', root.text)
    folder = requests.get(f"{sandbox.url.removesuffix('/sandbox')}{restored.group(1)}", timeout=10)

    assert "Documents" in root.text
    assert "report.txt" in folder.text
    assert "2.0" in folder.text
    assert "1.0" in folder.text
