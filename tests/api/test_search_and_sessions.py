"""GET /api/v1/search across restore points, and restore sessions as a resource."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from api import tokens
from restore.models import RestoreJob, RestoreSession
from tests.restore import factories as f

pytestmark = pytest.mark.django_db


def bearer_of(user) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.issue(user, grant='operator').access_token}"}


@pytest.fixture
def alice():
    return f.user("alice")


@pytest.fixture
def history(alice):
    """Alice's mailbox with three points: "Budget v1" in points 1-2 then gone, "Budget v2"
    from point 2 on; a second object (her drive) with a budget file."""
    box = f.mailbox(alice, points=3, messages=0)
    old = f.message(box["object"], box["inbox"], "Budget v1", graph_id="b1", last_seq=2)
    new = f.message(box["object"], box["inbox"], "Budget v2", graph_id="b2", first_seq=2)
    drive = f.protected_object(alice, workload="onedrive")
    f.point(drive, 1)
    root = f.folder(drive, "", well_known="root")
    budget_file = f.file(drive, root, "budget.xlsx", b"numbers")
    return {"box": box, "old": old, "new": new, "drive": drive, "file": budget_file}


def test_search_covers_every_restore_point_and_says_which_hold_each_hit(client, alice, history):
    answer = client.get("/api/v1/search", {"q": "budget"}, headers=bearer_of(alice))
    assert answer.status_code == 200, answer.content
    hits = {hit["name"]: hit for hit in answer.json()["items"]}
    assert set(hits) == {"Budget v1", "Budget v2", "budget.xlsx"}
    points = history["box"]["points"]
    gone = hits["Budget v1"]
    assert gone["restore_points"] == {"first": points[0].pk, "last": points[1].pk,
                                      "count": 2, "is_current": False}  # fmt: skip
    assert gone["later"]["deleted"] is True
    assert gone["later"]["at"].startswith(str(points[2].started_at.date()))
    assert hits["Budget v2"]["later"] is None
    assert hits["Budget v2"]["restore_points"]["is_current"] is True
    one = client.get("/api/v1/search", {"q": "budget", "object": history["drive"].pk},
                     headers=bearer_of(alice))  # fmt: skip
    assert [h["name"] for h in one.json()["items"]] == ["budget.xlsx"]


def test_search_refuses_bad_filters_and_other_peoples_objects(client, alice, history):
    headers = bearer_of(alice)
    theirs = f.mailbox(f.user("carol", tenant=f.FABRIKAM))["object"].pk
    assert client.get("/api/v1/search", {"object": theirs}, headers=headers).status_code == 404
    dates = client.get("/api/v1/search", {"date_from": "2026-05-01", "date_to": "2026-04-01"},
                       headers=headers)  # fmt: skip
    assert dates.status_code == 400
    assert "date_from is after date_to" in dates.json()["error_description"]
    bad = client.get("/api/v1/search", {"cursor": "forged"}, headers=headers)
    assert bad.status_code == 400
    assert client.get("/api/v1/search", {"type": "spreadsheet"}, headers=headers).status_code == 400


def test_a_restore_session_sees_exactly_what_it_resolved_until_it_ends(client, alice, history):
    headers = bearer_of(alice)
    box, drive = history["box"]["object"], history["drive"]
    made = client.post("/api/v1/restore-sessions", json.dumps({"object": drive.pk}),
                       content_type="application/json", headers=headers)  # fmt: skip
    assert made.status_code == 201, made.content
    session = made.json()
    assert session["object_ids"] == [drive.pk]
    through = headers | {"X-Restore-Session": session["id"]}
    listed = client.get("/api/v1/objects", headers=through).json()["items"]
    assert [o["id"] for o in listed] == [drive.pk]
    assert client.get(f"/api/v1/objects/{box.pk}", headers=through).status_code == 404
    # Without the header: the caller's whole scope, as before.
    assert client.get(f"/api/v1/objects/{box.pk}", headers=headers).status_code == 200
    mine = client.get("/api/v1/restore-sessions", headers=headers).json()["items"]
    assert [s["id"] for s in mine] == [session["id"]]
    # A restore started through the session goes on after the session ends.
    job = client.post(
        "/api/v1/restore-jobs",
        json.dumps({"restore_point": drive.restore_points.get().pk,
                    "items": [history["file"].pk], "target": {"kind": "download"}}),
        content_type="application/json", headers=through,
    ).json()  # fmt: skip
    assert (
        client.delete(f"/api/v1/restore-sessions/{session['id']}", headers=headers).status_code
        == 204
    )
    assert client.get("/api/v1/objects", headers=through).status_code == 404
    assert (
        client.delete(f"/api/v1/restore-sessions/{session['id']}", headers=headers).status_code
        == 404
    )
    assert RestoreJob.objects.get(pk=job["id"]).status == "completed"
    assert (
        client.get(f"/api/v1/restore-jobs/{job['id']}/download", headers=headers).status_code == 200
    )


def test_an_object_outside_the_scope_gives_no_session(client, alice, history):
    theirs = f.mailbox(f.user("bob"))["object"].pk
    answer = client.post("/api/v1/restore-sessions", json.dumps({"object": theirs}),
                         content_type="application/json", headers=bearer_of(alice))  # fmt: skip
    assert answer.status_code == 404
    assert not RestoreSession.objects.filter(user=alice, explicit=True).exists()
    unknown = client.post("/api/v1/restore-sessions", json.dumps({"objects": [1]}),
                          content_type="application/json", headers=bearer_of(alice))  # fmt: skip
    assert unknown.status_code == 400


def test_logout_ends_the_callers_restore_sessions(client, alice, history):
    headers = bearer_of(alice)
    made = client.post("/api/v1/restore-sessions", "{}", content_type="application/json",
                       headers=headers).json()  # fmt: skip
    assert client.post("/api/v1/token/logout", headers=headers).status_code == 204
    session = RestoreSession.objects.get(pk=made["id"])
    assert session.expires_at <= timezone.now()
    fresh = bearer_of(alice) | {"X-Restore-Session": made["id"]}
    assert client.get("/api/v1/objects", headers=fresh).status_code == 404


def test_pages_never_use_an_api_session(client, alice, history):
    """A session narrowed to one object must not become the person's web scope."""
    client.post("/api/v1/restore-sessions", json.dumps({"object": history["drive"].pk}),
                content_type="application/json", headers=bearer_of(alice))  # fmt: skip
    client.force_login(alice)
    page = client.get("/backups/").content.decode()
    assert f"/backups/objects/{history['box']['object'].pk}/" in page


def test_the_api_guide_is_served_and_swagger_links_it(client):
    guide = client.get("/api/guide")
    assert guide.status_code == 200
    assert b"# Lifeboat REST API" in guide.content
    schema = client.get("/api/v1/openapi.json").json()
    assert "/api/guide" in schema["info"]["description"]
    assert "POST /api/v1/token" in schema["info"]["description"]
