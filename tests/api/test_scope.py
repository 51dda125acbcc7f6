"""Scope over the API: another person's object, restore point, folder, item or job is a 404
from every route that takes an id, and lists show only one's own."""

from __future__ import annotations

import json

import pytest

from api import tokens
from restore.jobs import lifecycle as jobs
from restore.models import RestoreJob
from restore.scope import Scope
from tests.restore import factories as f

pytestmark = pytest.mark.django_db

# Every API route with an id in its path, and what kind of id it takes. A new route with
# an id fails test_every_route_with_an_id_is_checked until it is added here.
ROUTES = {
    ("GET", "/api/v1/objects/{id}"): "object",
    ("GET", "/api/v1/objects/{id}/restore-points"): "object",
    ("GET", "/api/v1/objects/{id}/folders"): "object",
    ("GET", "/api/v1/objects/{id}/items"): "object",
    ("GET", "/api/v1/items/{id}"): "item",
    ("GET", "/api/v1/items/{id}/content"): "item",
    ("GET", "/api/v1/restore-jobs/{id}"): "job",
    ("GET", "/api/v1/restore-jobs/{id}/log"): "job",
    ("POST", "/api/v1/restore-jobs/{id}/cancel"): "job",
    ("GET", "/api/v1/restore-jobs/{id}/download"): "job",
}
# Helpdesk and admin routes whose ids are not catalog ids (tests/api/test_resources.py).
NOT_CATALOG = {
    ("GET", "/api/v1/sign-ins/{id}"),
    ("POST", "/api/v1/logged-users/{identity}/revoke"),
}


@pytest.fixture
def world():
    """Alice and her mailbox; Bob (same tenant) and Fabrikam's Carol with theirs and a job."""
    alice = f.user("alice")
    mine = f.mailbox(alice)
    others = {}
    for who in (f.user("bob"), f.user("carol", tenant=f.FABRIKAM)):
        box = f.mailbox(who)
        job = jobs.create_job(
            Scope.for_user(who), box["points"][0], [box["items"][0].pk], [], "download"
        )
        others[who.upn] = {"object": box["object"].pk, "point": box["points"][0].pk,
                           "folder": box["inbox"].pk, "item": box["items"][0].pk, "job": job.pk}  # fmt: skip
    return {"alice": alice, "mine": mine, "others": others}


def bearer_of(user) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.issue(user, grant='operator').access_token}"}


def assert_not_found(answer) -> None:
    assert answer.status_code == 404, answer.content
    body = answer.json()
    assert body["error"] == "not_found"
    assert set(body) == {"error", "error_description"}


def test_every_route_with_an_id_is_checked(client):
    documented = client.get("/api/v1/openapi.json").json()["paths"]
    with_ids = {(m.upper(), p) for p, ops in documented.items() for m in ops if "{" in p}
    assert with_ids - NOT_CATALOG == set(ROUTES)


@pytest.mark.parametrize(("method", "route"), sorted(ROUTES), ids=lambda v: str(v))
@pytest.mark.parametrize("owner", ["bob@contoso.example", "carol@fabrikam.example"])
def test_another_persons_id_is_404(client, world, method, route, owner):
    foreign = world["others"][owner][ROUTES[(method, route)]]
    theirs = RestoreJob.objects.get(pk=world["others"][owner]["job"])
    answer = getattr(client, method.lower())(
        route.replace("{id}", str(foreign)), headers=bearer_of(world["alice"])
    )
    assert_not_found(answer)
    assert not RestoreJob.objects.filter(user=world["alice"]).exists()
    # Their job untouched (a probe of the cancel route must not cancel it).
    after = RestoreJob.objects.get(pk=theirs.pk)
    assert (after.status, after.cancel_requested) == (theirs.status, theirs.cancel_requested)


@pytest.mark.parametrize("owner", ["bob@contoso.example", "carol@fabrikam.example"])
@pytest.mark.parametrize(
    "query",
    ["items?restore_point={point}", "items?folder={folder}", "folders?restore_point={point}"],
)
def test_another_persons_point_or_folder_under_my_object_is_404(client, world, owner, query):
    ids = world["others"][owner]
    path = f"/api/v1/objects/{world['mine']['object'].pk}/{query.format(**ids)}"
    assert_not_found(client.get(path, headers=bearer_of(world["alice"])))


@pytest.mark.parametrize("owner", ["bob@contoso.example", "carol@fabrikam.example"])
@pytest.mark.parametrize("what", ["restore_point", "items", "folders"])
def test_a_restore_of_another_persons_point_item_or_folder_is_404(client, world, owner, what):
    ids, mine = world["others"][owner], world["mine"]
    body = {"restore_point": mine["points"][0].pk, "items": [mine["items"][0].pk],
            "target": {"kind": "original"}}  # fmt: skip
    body |= {
        "restore_point": {"restore_point": ids["point"]},
        "items": {"items": [ids["item"]]},
        "folders": {"folders": [ids["folder"]]},
    }[what]
    answer = client.post(
        "/api/v1/restore-jobs",
        json.dumps(body),
        content_type="application/json",
        headers=bearer_of(world["alice"]),
    )
    assert_not_found(answer)
    assert not RestoreJob.objects.filter(user=world["alice"]).exists()


def test_lists_hold_only_my_own(client, world):
    headers = bearer_of(world["alice"])
    objects = client.get("/api/v1/objects", headers=headers).json()["items"]
    assert [o["id"] for o in objects] == [world["mine"]["object"].pk]
    assert client.get("/api/v1/restore-jobs", headers=headers).json()["count"] == 0
