"""Who may call Graph: token checks, permission table, object access, tenant isolation,
and the Veeam restore-operator sequence replayed over raw HTTP."""

from __future__ import annotations

import time

import jwt
import msal
import requests

from portal.microsoft import authority_url, http_session
from sandbox import keys
from sandbox.models import ServicePrincipal
from sandbox.seed import PORTAL_APPLICATION_ROLES
from tests.sandbox.graph import Graph, app_token, error_code, user_token


def test_missing_token_is_401_with_graphs_error_shape(sandbox):
    response = Graph(None).get("me", headers={"client-request-id": "abc-123"})

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "InvalidAuthenticationToken"
    assert error["innerError"]["client-request-id"] == "abc-123"
    assert error["innerError"]["request-id"] == response.headers["request-id"]
    assert error["innerError"]["date"]


def test_forged_expired_and_wrong_audience_tokens_are_refused(sandbox):
    token = user_token(sandbox, "alice")
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-6]}AAAAAA"
    claims = jwt.decode(token, options={"verify_signature": False})
    expired = keys.sign({**claims, "iat": int(time.time()) - 7200, "nbf": int(time.time()) - 7200,
                         "exp": int(time.time()) - 3600})  # fmt: skip
    app = msal.PublicClientApplication(
        sandbox.public_client_id,
        authority=authority_url(sandbox.tenant_id),
        http_client=http_session(),
    )
    flow = app.initiate_device_flow(scopes=[sandbox.portal_api_scope])
    sandbox.approve(flow["user_code"], "alice")
    api_token = app.acquire_token_by_device_flow(flow, exit_condition=lambda f: True)[
        "access_token"
    ]

    assert Graph(token).get("me").status_code == 200
    for bad in (forged, expired, api_token, "not-a-jwt"):
        response = Graph(bad).get("me")
        assert response.status_code == 401
        assert error_code(response) == "InvalidAuthenticationToken"
    assert "expired" in Graph(expired).get("me").json()["error"]["message"]
    assert "audience" in Graph(api_token).get("me").json()["error"]["message"]


def test_a_token_signed_by_a_retired_key_is_refused(sandbox):
    token = user_token(sandbox, "alice")
    old_kid = jwt.get_unverified_header(token)["kid"]

    keys.rollover()
    still_published = Graph(token).get("me")
    keys.retire(old_kid)
    retired = Graph(token).get("me")

    assert still_published.status_code == 200
    assert retired.status_code == 401
    assert Graph(user_token(sandbox, "alice")).get("me").status_code == 200  # the new key


def test_missing_scopes_answer_403_in_each_workloads_words(sandbox):
    ServicePrincipal.objects.filter(
        tenant_id=sandbox.tenant_id, application__client_id=sandbox.public_client_id
    ).update(admin_consented_scopes=["User.Read"])
    graph = Graph(user_token(sandbox, "alice", ["User.Read"]))

    assert graph.get("me").status_code == 200
    assert error_code(graph.get("me/messages")) == "ErrorAccessDenied"
    assert error_code(graph.get("me/drive/root/children")) == "accessDenied"
    assert error_code(graph.get("users")) == "Authorization_RequestDenied"
    assert error_code(graph.get("groups")) == "Authorization_RequestDenied"
    # User.Read reaches one's own profile by id too, but not anybody else's.
    assert graph.get(f"users/{sandbox.user('alice').id}").status_code == 200
    assert graph.get("users/bob@contoso.example").status_code == 403


def test_app_only_without_the_role_is_refused(sandbox):
    ServicePrincipal.objects.filter(
        tenant_id=sandbox.tenant_id, application__client_id=sandbox.confidential_client_id
    ).update(graph_app_roles=["User.Read.All"])
    graph = Graph(app_token(sandbox))

    assert graph.get("users").status_code == 200
    assert error_code(graph.get("users/alice@contoso.example/messages")) == "ErrorAccessDenied"
    assert error_code(graph.get("users/alice@contoso.example/drive")) == "accessDenied"
    assert error_code(graph.get("groups")) == "Authorization_RequestDenied"


def test_an_app_token_of_another_tenant_reaches_nothing_here(sandbox):
    ServicePrincipal.objects.filter(
        tenant_id=sandbox.other_tenant_id, application__client_id=sandbox.confidential_client_id
    ).update(graph_app_roles=PORTAL_APPLICATION_ROLES)
    contoso = Graph(app_token(sandbox))
    fabrikam = Graph(app_token(sandbox, tenant_id=sandbox.other_tenant_id))
    alice_drive = contoso.ok("GET", "users/alice@contoso.example/drive")["id"]

    users = {u["userPrincipalName"] for u in fabrikam.ok("GET", "users")["value"]}
    assert users == {"mallory@fabrikam.example", "trent@fabrikam.example"}
    assert fabrikam.get(f"users/{sandbox.user('alice').id}").status_code == 404
    assert error_code(fabrikam.get("users/alice@contoso.example/messages")) == "ErrorInvalidUser"
    assert fabrikam.get(f"drives/{alice_drive}/root/children").status_code == 404
    assert fabrikam.get("users/mallory@fabrikam.example/mailFolders/inbox").status_code == 200


def test_restore_operator_authorization_replayed_over_raw_http(sandbox):
    """The Veeam VB365 restore-operator sequence, step by step, with plain requests."""
    code = requests.post(
        sandbox.devicecode_url,
        data={
            "client_id": sandbox.public_client_id,
            "scope": f"api://{sandbox.confidential_client_id}/access_as_user openid profile offline_access",
        },
        timeout=10,
    ).json()
    sandbox.approve(code["user_code"], "alice")
    assertion = requests.post(
        sandbox.token_url,
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "client_id": sandbox.public_client_id,
            "device_code": code["device_code"],
        },
        timeout=10,
    ).json()
    graph_tokens = requests.post(
        sandbox.token_url,
        data={
            "client_id": sandbox.public_client_id,
            "scope": "https://graph.microsoft.com/.default openid profile offline_access",
            "grant_type": "refresh_token",
            "refresh_token": assertion["refresh_token"],
        },
        timeout=10,
    ).json()
    bearer = {"Authorization": f"Bearer {graph_tokens['access_token']}"}

    me = requests.get(f"{sandbox.graph_url}/me?$select=id", headers=bearer, timeout=10)
    org = requests.get(f"{sandbox.graph_url}/organization?$select=id", headers=bearer, timeout=10)

    assert "access_token" in assertion
    assert me.status_code == 200
    assert org.status_code == 200
    assert me.json()["id"] == str(sandbox.user("alice").id)
    assert [o["id"] for o in org.json()["value"]] == [sandbox.tenant_id]
    # The first token is for the portal's API, not Graph: Graph refuses it.
    first = {"Authorization": f"Bearer {assertion['access_token']}"}
    assert requests.get(f"{sandbox.graph_url}/me", headers=first, timeout=10).status_code == 401
