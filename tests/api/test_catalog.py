"""The catalog over the API: objects, restore points, folders, items (browse, search,
cursor paging), one item and its content; on the same Scope as the web pages."""

from __future__ import annotations

import pytest

from api import tokens
from portal.models import AuditEvent
from tests.restore import factories as f

pytestmark = pytest.mark.django_db


def bearer_of(user) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.issue(user, grant='operator').access_token}"}


@pytest.fixture
def alice():
    return f.user("alice")


@pytest.fixture
def box(alice):
    return f.mailbox(alice, points=2, messages=5)


@pytest.fixture
def api(client, alice):
    headers = bearer_of(alice)

    def get(path: str, **params):
        return client.get(f"/api/v1{path}", params, headers=headers)

    return get


def test_objects_lists_what_the_web_lists(api, box):
    answer = api("/objects")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert [o["id"] for o in body["items"]] == [box["object"].pk]
    assert body["items"][0]["restore_points"] == 2
    assert body["items"][0]["workload"] == "mail"
    assert "Sign in again to see your groups' backups." in body["notes"]


def test_restore_points_newest_first_paged_by_before(api, box):
    answer = api(f"/objects/{box['object'].pk}/restore-points", limit=1)
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert [p["seq"] for p in body["items"]] == [2]
    assert body["next_before"] == 2
    older = api(f"/objects/{box['object'].pk}/restore-points", limit=1, before=2).json()
    assert [p["seq"] for p in older["items"]] == [1]
    assert older["next_before"] is None


def test_folders_at_a_point(api, box):
    body = api(f"/objects/{box['object'].pk}/folders").json()
    assert body["restore_point"] == box["points"][1].pk
    by_path = {row["path"]: row for row in body["items"]}
    assert by_path["Inbox"]["item_count"] == 5
    assert by_path["Inbox/Projects"]["parent_id"] == by_path["Inbox"]["id"]
    older = api(f"/objects/{box['object'].pk}/folders", restore_point=box["points"][0].pk)
    assert older.json()["restore_point"] == box["points"][0].pk


def test_items_page_with_a_cursor_to_the_end(api, box):
    path = f"/objects/{box['object'].pk}/items"
    first = api(path, folder=box["inbox"].pk, limit=2).json()
    assert len(first["items"]) == 2
    assert first["next_cursor"]
    seen = [i["id"] for i in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = api(path, folder=box["inbox"].pk, limit=2, cursor=cursor).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
    assert sorted(seen) == sorted(i.pk for i in box["items"])
    assert len(seen) == len(set(seen))


def test_search_finds_words(api, box):
    body = api(f"/objects/{box['object'].pk}/items", q="number 3").json()
    assert [i["name"] for i in body["items"]] == ["Message 3 for Alice"]
    body = api(f"/objects/{box['object'].pk}/items", q="Message", type="file").json()
    assert body["items"] == []


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"cursor": "garbage"}, "not valid"),
        ({"sort": "colour"}, "sort"),
        ({"limit": "0"}, "limit"),
        ({"type": "calendar"}, "type"),
        ({"recursive": "true"}, "recursive needs a folder"),
        ({"date_from": "2026-03-02", "date_to": "2026-03-01"}, "after"),
        ({"date_from": "yesterday"}, "date_from"),
    ],
)
def test_bad_browse_input_is_400_with_the_reason(api, box, params, reason):
    answer = api(f"/objects/{box['object'].pk}/items", **params)
    assert answer.status_code == 400, answer.content
    body = answer.json()
    assert body["error"] == "invalid_request"
    assert reason in body["error_description"]


def test_a_cursor_of_another_sort_is_refused(api, box):
    path = f"/objects/{box['object'].pk}/items"
    cursor = api(path, limit=1).json()["next_cursor"]
    answer = api(path, limit=1, cursor=cursor, sort="name")
    assert answer.status_code == 400
    assert "another sort order" in answer.json()["error_description"]


def test_item_detail_and_content_audited_as_a_download(api, box, alice):
    item = box["items"][0]
    body = api(f"/items/{item.pk}").json()
    assert body["name"] == "Message 1 for Alice"
    assert body["attachments"][0]["filename"] == "report.txt"
    assert body["restore_points"]["is_current"] is True
    content = api(f"/items/{item.pk}/content")
    assert content.status_code == 200
    assert content["Content-Type"] == "message/rfc822"
    assert "Message 1 for Alice.eml" in content["Content-Disposition"]
    assert b"Subject: Message 1 for Alice" in b"".join(content.streaming_content)
    event = AuditEvent.objects.get(action="restore.download")
    assert event.details["item"] == item.pk
    assert event.actor_identity == alice.identity


def test_a_file_comes_as_itself(api, alice):
    obj = f.protected_object(alice, workload="onedrive")
    f.point(obj, 1)
    root = f.folder(obj, "", well_known="root")
    item = f.file(obj, root, "plan.xlsx", b"\x00spreadsheet bytes")
    content = api(f"/items/{item.pk}/content")
    assert content.status_code == 200
    assert b"".join(content.streaming_content) == b"\x00spreadsheet bytes"


def test_unknown_paths_and_methods_answer_json(client, alice):
    headers = bearer_of(alice)
    for path in ("/api/v1/nope", "/api/v1/objects/1/nope", "/api/v2/objects", "/api/"):
        answer = client.get(path, headers=headers)
        assert answer.status_code == 404, path
        assert answer.json()["error"] == "not_found"
    answer = client.delete("/api/v1/objects", headers=headers)
    assert answer.status_code == 405
    assert answer.json()["error"] == "method_not_allowed"
    assert answer["Allow"] == "GET"
