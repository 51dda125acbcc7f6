from __future__ import annotations

import pytest

from tests.restore import factories as f

pytestmark = pytest.mark.django_db


def test_my_backups_lists_own_objects_and_opens_a_session(client):
    alice = f.user("alice")
    box = f.mailbox(alice, points=2)
    client.force_login(alice)
    html = client.get("/backups/").content.decode()
    assert "Alice" in html
    assert f"/backups/objects/{box['object'].pk}/" in html
    assert "Sign in again to see your groups" in html  # no delegated token in this test


def test_point_page_shows_tree_items_and_restore_form(client):
    alice = f.user("alice")
    box = f.mailbox(alice, points=2)
    client.force_login(alice)
    html = client.get(f"/backups/points/{box['points'][0].pk}/").content.decode()
    assert "Projects" in html
    assert "Message 1 for Alice" in html
    assert 'action="/backups/restore/"' in html
    assert 'name="items"' in html
    assert 'name="folders"' in html


def test_item_preview_and_body(client):
    alice = f.user("alice")
    box = f.mailbox(alice)
    client.force_login(alice)
    item = box["items"][0]
    html = client.get(f"/backups/items/{item.pk}/").content.decode()
    assert "report.txt" in html
    body = client.get(f"/backups/items/{item.pk}/body")
    assert body.status_code == 200
    assert "sandbox" in body["Content-Security-Policy"]
    attachment = client.get(f"/backups/items/{item.pk}/attachments/0")
    assert b"".join(attachment.streaming_content) == b"report body"
