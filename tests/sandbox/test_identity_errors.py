"""The sandbox identity platform's error answers, shaped as Entra sends them, and the
tenant admin's actions that end sessions."""

from __future__ import annotations

import io
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core.management import call_command

from tests.sandbox.pages import sign_in_through_authorize
from tests.sandbox.test_identity_msal import confidential_app, poll_once, public_app


def device_tokens(sandbox, alias="alice", app=None):
    sandbox.policy(device_code_interval=1)
    app = app or public_app(sandbox)
    flow = app.initiate_device_flow(scopes=["User.Read"])
    sandbox.approve(flow["user_code"], alias)
    time.sleep(1)
    return poll_once(app, flow)


def refresh(sandbox, refresh_token, **extra):
    return requests.post(
        sandbox.token_url,
        data={
            "client_id": sandbox.public_client_id,
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "scope": "User.Read offline_access",
            **extra,
        },
        timeout=10,
    )


def test_errors_have_entras_shape(sandbox):
    response = requests.post(
        sandbox.token_url, data={"grant_type": "client_credentials"}, timeout=10,
        headers={"client-request-id": "3f1c6d2e-0000-4000-8000-000000000001"},
    )  # fmt: skip
    body = response.json()
    assert response.status_code == 400
    assert set(body) == {
        "error", "error_description", "error_codes", "timestamp", "trace_id",
        "correlation_id", "error_uri",
    }  # fmt: skip
    assert body["error"] == "invalid_request"
    assert body["error_codes"] == [900144]
    assert re.match(
        r"AADSTS900144: .*\r\nTrace ID: [0-9a-f-]{36}\r\nCorrelation ID: "
        r"3f1c6d2e-0000-4000-8000-000000000001\r\nTimestamp: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$",
        body["error_description"],
        re.S,
    )


def test_a_public_refresh_token_presented_with_a_secret_is_refused(sandbox):
    tokens = device_tokens(sandbox)
    response = refresh(sandbox, tokens["refresh_token"], client_secret="anything")
    assert response.json()["error_codes"] == [700025]


def test_a_confidential_refresh_token_presented_without_a_secret_is_refused(sandbox):
    redirect_uri = f"{sandbox.url.removesuffix('/sandbox')}/auth/callback"
    app = confidential_app(sandbox)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=redirect_uri)
    answer = sign_in_through_authorize(
        flow["auth_uri"], sandbox.upn("alice"), sandbox.password("alice")
    )
    auth_response = {
        k: v[0] for k, v in parse_qs(urlsplit(answer.headers["Location"]).query).items()
    }
    tokens = app.acquire_token_by_auth_code_flow(flow, auth_response)

    response = requests.post(
        sandbox.token_url,
        data={
            "client_id": sandbox.confidential_client_id,
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "scope": "User.Read",
        },
        timeout=10,
    )
    assert response.json()["error_codes"] == [7000218]


@pytest.mark.parametrize(
    "admin_action",
    [
        ["revoke-sessions", "alice@contoso.example"],
        ["disable", "alice@contoso.example"],
        ["set-password", "alice@contoso.example", "a-new-password"],
    ],
)
def test_tenant_admin_actions_end_refresh_tokens(sandbox, admin_action):
    tokens = device_tokens(sandbox)
    call_command("sandbox", *admin_action, stdout=io.StringIO())

    body = refresh(sandbox, tokens["refresh_token"]).json()
    assert body["error"] == "invalid_grant"
    assert body["error_codes"][0] in (50173, 50057)


def test_an_expired_refresh_token(sandbox):
    sandbox.policy(refresh_token_lifetime=1)
    tokens = device_tokens(sandbox)
    time.sleep(1.2)
    body = refresh(sandbox, tokens["refresh_token"]).json()
    assert (body["error"], body["error_codes"]) == ("invalid_grant", [70008])


def test_refresh_tokens_slide(sandbox):
    from sandbox.models import RefreshToken

    tokens = device_tokens(sandbox)
    first = RefreshToken.objects.get()
    time.sleep(0.01)
    assert refresh(sandbox, tokens["refresh_token"]).status_code == 200
    newest = RefreshToken.objects.order_by("-issued_at").first()
    assert newest.expires_at > first.expires_at


def test_two_resources_in_one_request_are_refused(sandbox):
    response = requests.post(
        sandbox.devicecode_url,
        data={
            "client_id": sandbox.public_client_id,
            "scope": f"User.Read {sandbox.portal_api_scope}",
        },
        timeout=10,
    )
    assert response.json()["error_codes"] == [28000]


def test_jwks_shows_a_new_key_and_drops_a_retired_one(sandbox):
    from sandbox import keys

    jwks_url = f"{sandbox.login_url}/{sandbox.tenant_id}/discovery/v2.0/keys"
    old = requests.get(jwks_url, timeout=10).json()["keys"][0]["kid"]
    new = keys.rollover().kid
    assert {k["kid"] for k in requests.get(jwks_url, timeout=10).json()["keys"]} == {old, new}
    keys.retire(old)
    assert [k["kid"] for k in requests.get(jwks_url, timeout=10).json()["keys"]] == [new]
    config = requests.get(
        f"{sandbox.login_url}/{sandbox.tenant_domain}/v2.0/.well-known/openid-configuration",
        timeout=10,
    ).json()
    assert config["issuer"] == f"https://login.microsoftonline.com/{sandbox.tenant_id}/v2.0"
    assert config["token_endpoint"].startswith("https://login.microsoftonline.com/")
