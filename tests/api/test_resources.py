"""Bearer authentication, roles, and the helpdesk and admin endpoints."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from api.models import ApiToken
from authflow import poller
from authflow.models import Role, SignIn, TokenCache
from portal.models import AuditEvent
from sandbox import constants

from .conftest import GRAPH_SCOPES

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_invalid_token(response) -> None:
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"].startswith("Bearer ")
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
    assert response.json()["error"] == "invalid_token"


# --- Bearer authentication ---------------------------------------------------------------


def test_no_token_unknown_token_or_other_scheme_is_401(client, db):
    assert_invalid_token(client.get("/api/v1/me"))
    assert_invalid_token(client.get("/api/v1/me", headers=bearer("lbat_nope")))
    assert_invalid_token(client.get("/api/v1/me", headers={"Authorization": "Basic YTpi"}))
    assert_invalid_token(client.get("/api/v1/me", headers={"Authorization": "Bearer "}))


def test_expired_and_revoked_tokens_are_401(client, db, bearer_for):
    token = bearer_for()
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert "expired" in client.get("/api/v1/me", headers=bearer(token)).json()["error_description"]
    ApiToken.objects.update(
        expires_at=timezone.now() + timedelta(hours=1), revoked_at=timezone.now()
    )
    assert_invalid_token(client.get("/api/v1/me", headers=bearer(token)))


def test_a_refresh_token_is_not_an_access_token(client, db, bearer_for):
    from api import tokens
    from authflow.models import User

    bearer_for()
    pair = tokens.issue(User.objects.get(), grant="operator")
    assert_invalid_token(client.get("/api/v1/me", headers=bearer(pair.refresh_token)))


def test_bearer_calls_need_no_csrf_token(db, bearer_for):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post("/api/v1/logged-users/x/revoke", headers=bearer(bearer_for(Role.ADMIN)))
    assert response.status_code == 404  # reached the view: no CSRF failure


# --- Roles ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/sign-ins", {"principal": "alice@contoso.example"}),
        ("get", "/api/v1/sign-ins/00000000-0000-0000-0000-000000000000", None),
        ("get", "/api/v1/logged-users", None),
        ("post", "/api/v1/logged-users/a.b/revoke", None),
    ],
)
def test_an_end_user_is_forbidden_helpdesk_and_admin_operations(
    client, db, bearer_for, method, path, body
):
    kwargs = {"data": json.dumps(body), "content_type": "application/json"} if body else {}
    response = getattr(client, method)(path, headers=bearer(bearer_for()), **kwargs)
    assert response.status_code == 403, response.content
    assert response.json()["error"] == "forbidden"


def test_helpdesk_may_not_use_admin_operations(client, db, bearer_for):
    token = bearer_for(Role.HELPDESK)
    assert client.get("/api/v1/logged-users", headers=bearer(token)).status_code == 403
    assert client.post("/api/v1/logged-users/a.b/revoke", headers=bearer(token)).status_code == 403


# --- Helpdesk sign-ins --------------------------------------------------------------------


def start(client, token: str, principal: str, **extra):
    return client.post(
        "/api/v1/sign-ins",
        json.dumps({"principal": principal, **extra}),
        content_type="application/json",
        headers=bearer(token),
    )


def test_helpdesk_starts_a_sign_in_for_a_user_and_follows_it(client, sandbox, bearer_for):
    sandbox.policy(device_code_interval=1)
    token = bearer_for(Role.HELPDESK)
    alice = f"{sandbox.user('alice').id}.{constants.TENANT_ID}"

    response = start(client, token, sandbox.upn("alice"))

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "pending"
    assert body["user_code"]
    assert body["verification_uri"].endswith("/devicelogin") or "device" in body["verification_uri"]
    assert body["expected"] == {
        "identity": alice, "group_id": None, "label": sandbox.upn("alice"), "owners": [],
    }  # fmt: skip
    assert body["user_code"] in body["message"]
    assert sandbox.upn("alice") in body["message"]
    assert AuditEvent.objects.filter(action="sign_in.started").exists()

    sandbox.approve(body["user_code"], "alice")
    for _ in range(10):
        poller.run(max_seconds=1.5, threads=2)
        if SignIn.objects.get(code=body["id"]).status != SignIn.Status.PENDING:
            break
    followed = client.get(f"/api/v1/sign-ins/{body['id']}", headers=bearer(token))
    assert followed.status_code == 200
    assert followed.json()["status"] == "completed"
    assert followed.json()["signed_in_as"]["identity"] == alice

    # Valid tokens now exist: starting again needs force.
    again = start(client, token, sandbox.upn("alice"))
    assert again.status_code == 409
    assert again.json()["error"] == "conflict"
    assert start(client, token, sandbox.upn("alice"), force=True).status_code == 201


def test_helpdesk_starts_a_sign_in_for_a_group_bound_to_its_owners(client, sandbox, bearer_for):
    response = start(client, bearer_for(Role.HELPDESK), "Finance")
    assert response.status_code == 201, response.content
    expected = response.json()["expected"]
    assert expected["identity"] is None
    assert expected["group_id"]
    assert [o["upn"] for o in expected["owners"]] == [sandbox.upn("bob")]
    assert "an owner of Finance" in response.json()["message"]


def test_unknown_principals_and_bad_bodies_are_400(client, sandbox, bearer_for):
    token = bearer_for(Role.ADMIN)
    unknown = start(client, token, "nobody@contoso.example")
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "invalid_request"
    for body in ("{", "[]", json.dumps({"principal": ""}), json.dumps({"force": True})):
        response = client.post(
            "/api/v1/sign-ins", body, content_type="application/json", headers=bearer(token)
        )
        assert response.status_code == 400, (body, response.content)
        assert set(response.json()) == {"error", "error_description"}


def test_an_unknown_sign_in_is_404(client, db, bearer_for):
    response = client.get(
        "/api/v1/sign-ins/6d1f3a43-0000-4000-8000-000000000000",
        headers=bearer(bearer_for(Role.HELPDESK)),
    )
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


# --- Admin: logged-in users ----------------------------------------------------------------


def test_admin_lists_and_revokes_logged_in_users(client, operator, sandbox, bearer_for):
    microsoft = operator.microsoft_tokens("alice", GRAPH_SCOPES)
    alice_api = operator.token(
        {
            "grant_type": JWT_BEARER,
            "client_id": "contoso.example",
            "assertion": json.dumps(microsoft),
        }
    ).json()
    alice = f"{sandbox.user('alice').id}.{constants.TENANT_ID}"
    admin = bearer_for(Role.ADMIN)

    listed = client.get("/api/v1/logged-users", {"page_size": 1}, headers=bearer(admin))
    assert listed.status_code == 200, listed.content
    page = listed.json()
    assert page["count"] == 1
    assert page["page"] == 1
    row = page["items"][0]
    assert row["identity"] == alice
    assert row["status"] == "valid"
    assert row["refresh_token_expires_at"] is not None
    assert (
        client.get("/api/v1/logged-users", {"page": 2}, headers=bearer(admin)).json()["items"] == []
    )
    filtered = client.get("/api/v1/logged-users", {"q": "nobody"}, headers=bearer(admin)).json()
    assert filtered["count"] == 0

    revoked = client.post(f"/api/v1/logged-users/{alice}/revoke", headers=bearer(admin))
    assert revoked.status_code == 200, revoked.content
    assert revoked.json() == {"identity": alice, "revoked": True}
    assert TokenCache.objects.get(user__username=alice).status == TokenCache.Status.REVOKED
    # Her API session ended with it.
    assert operator.get("/me", alice_api["access_token"]).status_code == 401
    assert AuditEvent.objects.filter(action="token.revoked", on_behalf_of=alice).exists()
    again = client.post(f"/api/v1/logged-users/{alice}/revoke", headers=bearer(admin))
    assert again.json()["revoked"] is False

    missing = client.post("/api/v1/logged-users/not-an-identity/revoke", headers=bearer(admin))
    assert missing.status_code == 404


def test_helpdesk_starts_a_sign_in_for_a_site_and_its_groups_owners(client, sandbox, bearer_for):
    token = bearer_for(Role.HELPDESK)
    response = start(client, token, "https://contoso.sharepoint.com/sites/dev-team-1")
    assert response.status_code == 201, response.content
    expected = response.json()["expected"]
    assert expected["label"] == "Dev/Team/1"
    assert {o["upn"] for o in expected["owners"]} == {
        "carol@contoso.example",
        "erin@contoso.example",
    }
    missing = start(client, token, "Nothing Like This")
    assert missing.status_code == 400
    assert "There is no user, group or site called 'Nothing Like This'" in missing.content.decode()
    unknown_tenant = start(client, token, "alice@contoso.example", tenant="nowhere.example")
    # As a tenant the caller may not act in: a 404, the same answer (tests/api/test_scope.py).
    assert unknown_tenant.status_code == 404
    assert "No connected tenant is nowhere.example" in unknown_tenant.content.decode()
    assert SignIn.objects.count() == 1
