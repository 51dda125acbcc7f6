"""POST /api/v1/token: the seed's requests replayed end to end, and every way to get it wrong."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.cache import cache
from django.utils import timezone

from api import tokens
from api.models import ApiToken
from authflow.models import TokenCache, User
from portal.models import AuditEvent
from sandbox import constants, keys

from .conftest import GRAPH_SCOPES

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")


def assert_oauth_error(response, status: int, error: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == error, body
    return body


def actions() -> list[str]:
    return list(AuditEvent.objects.order_by("pk").values_list("action", flat=True))


# --- The seed, replayed ------------------------------------------------------------------


def test_operator_grant_then_me_refresh_and_reuse_detection(operator, identity_of, sandbox):
    alice = identity_of("alice")
    assertion = operator.api_access_token("alice")

    issued = operator.token({"grant_type": "operator", "client_id": alice, "assertion": assertion})

    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert set(body) == {
        "access_token", "refresh_token", "token_type", "expires_in", "userName", ".issued", ".expires",
    }  # fmt: skip
    assert body["token_type"] == "bearer"
    assert body["userName"] == sandbox.upn("alice")
    assert 3590 <= body["expires_in"] <= 3600
    assert TIMESTAMP.match(body[".issued"])
    assert TIMESTAMP.match(body[".expires"])
    assert issued.headers["Cache-Control"] == "no-store"
    # Stored only as hashes.
    assert not ApiToken.objects.filter(token_hash__in=[body["access_token"], body["refresh_token"]])
    assert ApiToken.objects.filter(token_hash=tokens.digest(body["access_token"])).exists()

    me = operator.get("/me", body["access_token"])
    assert me.status_code == 200, me.text
    assert me.json() == {
        "userName": sandbox.upn("alice"),
        "identity": alice,
        "display_name": "Alice Kim",
        "tenant_id": constants.TENANT_ID,
        "role": "end_user",
        "roles": ["end_user"],
    }

    refreshed = operator.token(
        {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    second = refreshed.json()
    assert second["access_token"] != body["access_token"]
    assert second["refresh_token"] != body["refresh_token"]
    assert operator.get("/me", second["access_token"]).status_code == 200

    # The first refresh token again: someone else holds a copy. The family dies.
    reused = operator.token({"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
    assert "already used" in assert_oauth_error(reused, 400, "invalid_grant")["error_description"]
    assert operator.get("/me", second["access_token"]).status_code == 401
    assert operator.get("/me", body["access_token"]).status_code == 401
    again = operator.token(
        {"grant_type": "refresh_token", "refresh_token": second["refresh_token"]}
    )
    assert_oauth_error(again, 400, "invalid_grant")

    assert [a for a in actions() if a.startswith("api.token.") and a != "api.token.refused"] == [
        "api.token.issued",
        "api.token.refreshed",
        "api.token.reuse_detected",
    ]


@pytest.mark.parametrize("client_id", [constants.TENANT_DOMAIN, constants.TENANT_ID])
def test_jwt_bearer_grant_keeps_the_delegated_tokens_for_restores(operator, sandbox, client_id):
    microsoft = operator.microsoft_tokens("alice", GRAPH_SCOPES)

    issued = operator.token(
        {"grant_type": JWT_BEARER, "client_id": client_id, "assertion": json.dumps(microsoft)}
    )

    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert body["userName"] == sandbox.upn("alice")
    user = User.objects.get(upn=sandbox.upn("alice"))
    assert user.identity == f"{sandbox.user('alice').id}.{constants.TENANT_ID}"
    cache_row = TokenCache.objects.get(user=user)
    assert cache_row.status == TokenCache.Status.VALID
    assert cache_row.method == TokenCache.Method.DEVICE_CODE  # refreshed by the public client
    # Restores can run as Alice: the portal gets Graph tokens of its own for her.
    from authflow.tokens import graph_as

    assert graph_as(user, ["User.Read"]).get("me")["id"] == str(sandbox.user("alice").id)
    assert "sign_in.completed" in actions()
    me = operator.get("/me", body["access_token"]).json()
    assert me["identity"] == user.identity


def test_an_admin_gets_the_admin_role_through_the_operator_grant(operator, identity_of):
    assertion = operator.api_access_token("ivan")
    body = operator.token(
        {"grant_type": "operator", "client_id": identity_of("ivan"), "assertion": assertion}
    ).json()
    me = operator.get("/me", body["access_token"]).json()
    assert me["role"] == "admin"
    assert me["roles"] == ["end_user", "helpdesk", "admin"]


# --- Bad requests that never reach Microsoft -----------------------------------------------

VALID_OPERATOR = (
    f"grant_type=operator&client_id={constants.TENANT_ID}.{constants.TENANT_ID}&assertion=x.y.z"
)


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ("", 400, "invalid_request"),
        ("client_id=a&assertion=b", 400, "invalid_request"),
        ("grant_type=password&username=a&password=b", 400, "unsupported_grant_type"),
        ("grant_type=client_credentials", 400, "unsupported_grant_type"),
        ("grant_type=operator&grant_type=operator&client_id=a&assertion=b", 400, "invalid_request"),
        (VALID_OPERATOR + "&scope=openid", 400, "invalid_request"),
        ("grant_type=operator&client_id=a.b", 400, "invalid_request"),
        ("grant_type=operator&client_id=&assertion=x", 400, "invalid_request"),
        ("grant_type=refresh_token", 400, "invalid_request"),
        ("grant_type=refresh_token&refresh_token=x&client_id=y", 400, "invalid_request"),
        ("grant_type=refresh_token&refresh_token=lbrt_unknown", 400, "invalid_grant"),
        ("grant_type=operator&&client_id=a", 400, "invalid_request"),
        ("grant_type=operator&client_id=alice&assertion=x.y.z", 401, "invalid_client"),
        (VALID_OPERATOR, 400, "invalid_grant"),  # not a JWT
        (f"grant_type={JWT_BEARER}&client_id=not a tenant&assertion={{}}", 401, "invalid_client"),
        (
            f"grant_type={JWT_BEARER}&client_id=contoso.example&assertion=not-json",
            400,
            "invalid_request",
        ),
        (
            f"grant_type={JWT_BEARER}&client_id=contoso.example&assertion=[1]",
            400,
            "invalid_request",
        ),
        (
            f"grant_type={JWT_BEARER}&client_id=contoso.example&assertion="
            '{"access_token":"a","token_type":"Bearer"}',
            400,
            "invalid_request",
        ),
        (
            f"grant_type={JWT_BEARER}&client_id=contoso.example&assertion="
            '{"access_token":"a","refresh_token":"b","token_type":"pop"}',
            400,
            "invalid_request",
        ),
    ],
)
def test_malformed_token_requests_are_precise_oauth_errors(client, db, body, status, error):
    cache.clear()
    response = client.post("/api/v1/token", body, content_type="application/x-www-form-urlencoded")
    assert_oauth_error(response, status, error)
    assert not ApiToken.objects.exists()
    assert AuditEvent.objects.filter(action="api.token.refused", outcome="failure").exists()


def test_a_json_body_is_refused(client, db):
    response = client.post(
        "/api/v1/token", {"grant_type": "operator"}, content_type="application/json"
    )
    assert_oauth_error(response, 400, "invalid_request")


def test_a_body_that_is_not_utf8_is_refused(client, db):
    response = client.post(
        "/api/v1/token", b"grant_type=\xff\xfe", content_type="application/x-www-form-urlencoded"
    )
    assert_oauth_error(response, 400, "invalid_request")


def test_an_oversized_body_is_413_json_and_not_read(operator):
    big = "grant_type=operator&client_id=a&assertion=" + "x" * (65 * 1024)
    response = operator.token(big, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_oauth_error(response, 413, "invalid_request")


def test_the_token_endpoint_is_rate_limited_per_address(client, db, settings):
    cache.clear()
    settings.API_TOKEN_RATE = "3/m"
    for _ in range(3):
        response = client.post(
            "/api/v1/token", "grant_type=nope", content_type="application/x-www-form-urlencoded"
        )
        assert response.status_code == 400
    limited = client.post(
        "/api/v1/token", "grant_type=nope", content_type="application/x-www-form-urlencoded"
    )
    assert_oauth_error(limited, 429, "too_many_requests")
    assert 1 <= int(limited["Retry-After"]) <= 60


def test_the_token_endpoint_answers_json_503_when_redis_is_down(client, db, settings):
    # Nothing listens on port 1: the rate limit's counters (the cache) are unreachable.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    response = client.post(
        "/api/v1/token", "grant_type=operator", content_type="application/x-www-form-urlencoded"
    )
    assert_oauth_error(response, 503, "temporarily_unavailable")
    assert response["Retry-After"] == "30"
    assert not AuditEvent.objects.exists()


# --- Assertions that are well formed but must be refused ----------------------------------


def resigned(token: str, **changes) -> str:
    """The token's claims, changed, signed with the sandbox tenant's real key."""
    claims = jwt.decode(token, options={"verify_signature": False})
    claims.update(changes)
    return keys.sign({k: v for k, v in claims.items() if v is not None})


def forged(token: str) -> str:
    """The same claims and key id, signed with a key the tenant never published."""
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return jwt.encode(claims, pem, algorithm="RS256", headers={"kid": header["kid"]})


def test_operator_assertions_that_must_be_refused(operator, identity_of, sandbox):
    alice = identity_of("alice")
    good = operator.api_access_token("alice")
    now = int(time.time())
    other_tenant = constants.OTHER_TENANT_ID
    cases = {
        "forged signature": forged(good),
        "expired": resigned(good, iat=now - 7200, nbf=now - 7200, exp=now - 3600),
        "not yet valid": resigned(good, nbf=now + 3600, exp=now + 7200),
        "wrong audience": resigned(good, aud="https://graph.microsoft.com"),
        "another api": resigned(good, aud="00000000-0000-0000-0000-000000000001"),
        "other tenant": resigned(
            good, tid=other_tenant, iss=f"https://login.microsoftonline.com/{other_tenant}/v2.0"
        ),
        "wrong issuer": resigned(good, iss="https://sts.windows.net/" + constants.TENANT_ID + "/"),
        "no access_as_user": resigned(good, scp="User.Read"),
        "app-only": resigned(good, scp=None, roles=["Lifeboat.Admin"], idtyp="app"),
        "graph token": operator.microsoft_tokens("alice", GRAPH_SCOPES)["access_token"],
    }
    for name, assertion in cases.items():
        response = operator.token(
            {"grant_type": "operator", "client_id": alice, "assertion": assertion}
        )
        assert response.status_code == 400, (name, response.text)
        assert response.json()["error"] == "invalid_grant", name

    # A good token for Alice does not open Bob's identity.
    mismatch = operator.token(
        {"grant_type": "operator", "client_id": identity_of("bob"), "assertion": good}
    )
    assert_oauth_error(mismatch, 401, "invalid_client")
    assert not ApiToken.objects.exists()
    assert not User.objects.exists()


def test_jwt_bearer_assertions_that_must_be_refused(operator, sandbox):
    alice = operator.microsoft_tokens("alice", GRAPH_SCOPES)
    bob = operator.microsoft_tokens("bob", GRAPH_SCOPES)

    def attempt(client_id: str, response: dict) -> dict:
        answer = operator.token(
            {"grant_type": JWT_BEARER, "client_id": client_id, "assertion": json.dumps(response)}
        )
        assert answer.status_code in (400, 401), answer.text
        return answer.json()

    domain = constants.TENANT_DOMAIN
    assert attempt(constants.OTHER_TENANT_DOMAIN, alice)["error"] == "invalid_client"
    assert attempt(constants.OTHER_TENANT_ID, alice)["error"] == "invalid_client"
    assert attempt(domain, {**alice, "access_token": "garbage"})["error"] == "invalid_grant"
    assert (
        attempt(domain, {**alice, "access_token": forged(alice["access_token"])})["error"]
        == "invalid_grant"
    )
    assert attempt(domain, {**alice, "refresh_token": "1.AQ-garbage"})["error"] == "invalid_grant"
    mixed = attempt(domain, {**alice, "refresh_token": bob["refresh_token"]})
    assert mixed["error"] == "invalid_grant"
    assert "different people" in mixed["error_description"]
    assert not ApiToken.objects.exists()
    assert not TokenCache.objects.exists()


def test_an_expired_refresh_token_is_refused(operator, identity_of):
    assertion = operator.api_access_token("alice")
    body = operator.token(
        {"grant_type": "operator", "client_id": identity_of("alice"), "assertion": assertion}
    ).json()
    ApiToken.objects.filter(kind=ApiToken.Kind.REFRESH).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    expired = operator.token(
        {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
    )
    assert "expired" in assert_oauth_error(expired, 400, "invalid_grant")["error_description"]
