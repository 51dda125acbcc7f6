"""Unmodified msal against the sandbox identity platform over real HTTP.

msal reaches the sandbox through the portal's Microsoft transport (real authority form,
Microsoft's host routed to the live server), exactly as the portal does.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import jwt
import msal
import pytest
import requests

from portal.microsoft import authority_url, http_session
from tests.sandbox.pages import sign_in_through_authorize


def public_app(sandbox, client_id=None) -> msal.PublicClientApplication:
    return msal.PublicClientApplication(
        client_id or sandbox.public_client_id,
        authority=authority_url(sandbox.tenant_id),
        http_client=http_session(),
        token_cache=msal.SerializableTokenCache(),
    )


def confidential_app(sandbox, secret=None) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        sandbox.confidential_client_id,
        client_credential=secret or sandbox.confidential_client_secret,
        authority=authority_url(sandbox.tenant_id),
        http_client=http_session(),
        token_cache=msal.SerializableTokenCache(),
    )


def poll_once(app, flow):
    return app.acquire_token_by_device_flow(flow, exit_condition=lambda f: True)


def test_device_flow_pending_then_approved(sandbox):
    sandbox.policy(device_code_interval=1)
    app = public_app(sandbox)
    flow = app.initiate_device_flow(scopes=["User.Read"])

    assert len(flow["user_code"]) == 9
    assert flow["verification_uri"] == sandbox.device_login_url
    assert flow["interval"] == 1
    assert flow["expires_in"] == 900
    assert poll_once(app, flow)["error"] == "authorization_pending"

    sandbox.approve(flow["user_code"], "alice")
    time.sleep(1)
    result = poll_once(app, flow)

    assert "access_token" in result, result
    claims = result["id_token_claims"]
    assert claims["oid"] == str(sandbox.user("alice").id)
    assert claims["tid"] == sandbox.tenant_id
    assert claims["preferred_username"] == "alice@contoso.example"
    assert claims["aud"] == sandbox.public_client_id
    assert claims["iss"] == f"https://login.microsoftonline.com/{sandbox.tenant_id}/v2.0"
    [account] = app.get_accounts()
    assert account["home_account_id"] == f"{claims['oid']}.{claims['tid']}"
    assert account["account_source"] == "urn:ietf:params:oauth:grant-type:device_code"
    assert account["environment"] == "login.microsoftonline.com"


def test_polling_faster_than_the_interval_gets_slow_down_and_a_longer_interval(sandbox):
    app = public_app(sandbox)
    flow = app.initiate_device_flow(scopes=["User.Read"])
    assert poll_once(app, flow)["error"] == "authorization_pending"

    result = poll_once(app, flow)

    assert result["error"] == "slow_down"
    assert flow["interval"] == 10  # msal adds 5 s, as RFC 8628 says


def test_declined_device_login_ends_the_flow(sandbox):
    sandbox.policy(device_code_interval=1)
    app = public_app(sandbox)
    flow = app.initiate_device_flow(scopes=["User.Read"])
    sandbox.approve(flow["user_code"], "alice", decline=True)

    assert poll_once(app, flow)["error"] == "authorization_declined"


def test_expired_device_code(sandbox):
    sandbox.policy(device_code_lifetime=1)
    app = public_app(sandbox)
    flow = app.initiate_device_flow(scopes=["User.Read"])
    time.sleep(1.2)

    assert poll_once(app, flow)["error"] == "expired_token"


def test_unknown_device_code(sandbox):
    app = public_app(sandbox)
    flow = app.initiate_device_flow(scopes=["User.Read"])
    flow["device_code"] = "DAQABIQEAAAB-not-a-real-code"

    assert poll_once(app, flow)["error"] == "bad_verification_code"


def test_device_code_for_an_app_without_public_client_flows_is_refused(sandbox):
    app = public_app(sandbox, client_id=sandbox.confidential_client_id)
    flow = app.initiate_device_flow(scopes=["User.Read"])
    sandbox.approve(flow["user_code"], "alice")

    result = poll_once(app, flow)

    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000218]


def test_auth_code_flow_with_pkce_and_nonce(sandbox):
    app = confidential_app(sandbox)
    redirect_uri = f"{sandbox.url.removesuffix('/sandbox')}/auth/callback"
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=redirect_uri)
    query = parse_qs(urlsplit(flow["auth_uri"]).query)
    assert query["code_challenge_method"] == ["S256"]

    response = sign_in_through_authorize(
        flow["auth_uri"], "alice@contoso.example", sandbox.password("alice")
    )
    auth_response = {
        k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()
    }
    assert auth_response["state"] == flow["state"]
    result = app.acquire_token_by_auth_code_flow(flow, auth_response)

    assert "access_token" in result, result
    assert result["id_token_claims"]["oid"] == str(sandbox.user("alice").id)
    [account] = app.get_accounts()
    assert account["account_source"] == "authorization_code"


def test_auth_code_cannot_be_redeemed_twice_or_without_the_verifier(sandbox):
    app = confidential_app(sandbox)
    redirect_uri = f"{sandbox.url.removesuffix('/sandbox')}/auth/callback"
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=redirect_uri)
    response = sign_in_through_authorize(
        flow["auth_uri"], "alice@contoso.example", sandbox.password("alice")
    )
    code = parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]
    form = {
        "client_id": sandbox.confidential_client_id,
        "client_secret": sandbox.confidential_client_secret,
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "scope": "User.Read openid",
    }

    wrong = requests.post(sandbox.token_url, data={**form, "code_verifier": "x" * 43}, timeout=10)
    assert wrong.json()["error_codes"] == [501481]
    right = requests.post(
        sandbox.token_url, data={**form, "code_verifier": flow["code_verifier"]}, timeout=10
    )
    assert right.status_code == 200, right.text
    again = requests.post(
        sandbox.token_url, data={**form, "code_verifier": flow["code_verifier"]}, timeout=10
    )
    assert again.json()["error_codes"] == [54005]


def test_silent_refresh_rotates_the_refresh_token_and_keeps_the_old_one_valid(sandbox):
    sandbox.policy(device_code_interval=1)
    app = public_app(sandbox)
    flow = app.initiate_device_flow(scopes=["User.Read"])
    sandbox.approve(flow["user_code"], "alice")
    time.sleep(1)
    first = poll_once(app, flow)
    [account] = app.get_accounts()

    refreshed = app.acquire_token_silent(["User.Read"], account, force_refresh=True)

    assert refreshed["refresh_token"] != first["refresh_token"]
    assert refreshed["access_token"] != first["access_token"]
    # Entra does not revoke a refresh token when it is used (the client must drop it).
    old = requests.post(
        sandbox.token_url,
        data={
            "client_id": sandbox.public_client_id,
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "scope": "User.Read offline_access",
        },
        timeout=10,
    )
    assert old.status_code == 200


def test_client_credentials_with_a_secret_in_the_body(sandbox):
    result = confidential_app(sandbox).acquire_token_for_client(
        ["https://graph.microsoft.com/.default"]
    )

    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["idtyp"] == "app"
    assert "Mail.ReadWrite" in claims["roles"]
    assert "scp" not in claims
    assert claims["tid"] == sandbox.tenant_id


def test_client_credentials_with_basic_authentication(sandbox):
    response = requests.post(
        sandbox.token_url,
        auth=(sandbox.confidential_client_id, sandbox.confidential_client_secret),
        data={"grant_type": "client_credentials", "scope": "https://graph.microsoft.com/.default"},
        timeout=10,
    )

    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"


def test_client_credentials_with_a_wrong_secret(sandbox):
    result = confidential_app(sandbox, secret="not-the-secret").acquire_token_for_client(
        ["https://graph.microsoft.com/.default"]
    )

    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000215]


@pytest.mark.parametrize("alias", ["mallory"])
def test_a_user_of_another_tenant_cannot_approve_a_tenant_specific_code(sandbox, alias):
    app = public_app(sandbox)
    flow = app.initiate_device_flow(scopes=["User.Read"])

    with pytest.raises(Exception, match="AADSTS50020"):
        sandbox.approve(flow["user_code"], alias)
