"""Continuous access evaluation in the sandbox's Graph, as Entra and Graph do it: a client
that declares the cp1 capability gets tokens carrying xms_cc, and Graph refuses such a
token issued before a revocation with a claims challenge; other clients keep their token
until it expires."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta

import jwt
import msal
from django.utils import timezone

from portal.microsoft import authority_url, http_session
from tests.sandbox.graph import PORTAL_SCOPES, Graph

CHALLENGE = re.compile(
    r'^Bearer realm="", authorization_uri="https://login\.microsoftonline\.com/common/oauth2/'
    r'authorize", error="insufficient_claims", claims="(?P<claims>[A-Za-z0-9+/=]+)"$'
)


def token_for(sandbox, alias: str, *, capabilities: list[str] | None) -> str:
    app = msal.PublicClientApplication(
        sandbox.public_client_id,
        authority=authority_url(sandbox.tenant_id),
        http_client=http_session(),
        client_capabilities=capabilities,
    )
    flow = app.initiate_device_flow(scopes=PORTAL_SCOPES)
    sandbox.approve(flow["user_code"], alias)
    result = app.acquire_token_by_device_flow(flow, exit_condition=lambda f: True)
    assert "access_token" in result, result.get("error_description")
    return result["access_token"]


def revoked_just_after_the_token(sandbox, alias: str) -> None:
    """Sessions revoked after the token's issue second (iat has whole seconds)."""
    user = sandbox.user(alias)
    user.sign_in_sessions_valid_from = timezone.now() + timedelta(seconds=1)
    user.save()


def test_a_cp1_token_carries_xms_cc_and_one_without_does_not(sandbox):
    with_cp1 = jwt.decode(
        token_for(sandbox, "alice", capabilities=["cp1"]), options={"verify_signature": False}
    )
    without = jwt.decode(
        token_for(sandbox, "alice", capabilities=None), options={"verify_signature": False}
    )

    assert with_cp1["xms_cc"] == ["cp1"]
    assert "xms_cc" not in without


def test_graph_challenges_a_cp1_token_issued_before_the_revocation(sandbox):
    graph = Graph(token_for(sandbox, "alice", capabilities=["cp1"]))
    assert graph.get("me").status_code == 200
    revoked_just_after_the_token(sandbox, "alice")

    answer = graph.get("me")

    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert "TokenIssuedBeforeRevocationTimestamp" in answer.json()["error"]["message"]
    found = CHALLENGE.match(answer.headers["WWW-Authenticate"])
    assert found, answer.headers["WWW-Authenticate"]
    claims = json.loads(base64.b64decode(found["claims"]))
    not_before = int(sandbox.user("alice").sign_in_sessions_valid_from.timestamp())
    assert claims == {"access_token": {"nbf": {"essential": True, "value": str(not_before)}}}


def test_a_disabled_account_is_challenged_too(sandbox):
    graph = Graph(token_for(sandbox, "alice", capabilities=["cp1"]))
    user = sandbox.user("alice")
    user.account_enabled = False
    user.save()

    answer = graph.get("me")

    assert answer.status_code == 401
    assert CHALLENGE.match(answer.headers["WWW-Authenticate"])


def test_a_client_without_cp1_keeps_its_token_until_it_expires(sandbox):
    graph = Graph(token_for(sandbox, "alice", capabilities=None))
    revoked_just_after_the_token(sandbox, "alice")

    assert graph.get("me").status_code == 200
