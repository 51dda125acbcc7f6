"""The portal validates id_tokens itself: forged, expired or foreign tokens get nobody in."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.cache import cache

from authflow.identity import InvalidIdentityToken, validate
from sandbox import keys
from sandbox.identity.tokens import id_token
from sandbox.models import Application


@pytest.fixture
def claims(sandbox):
    """The claims of a genuine id_token the sandbox issues to the public client for alice."""
    app = Application.objects.get(client_id=sandbox.public_client_id)
    genuine = id_token(sandbox.user("alice"), app)
    return jwt.decode(genuine, options={"verify_signature": False})


def accept(token, sandbox):
    return validate(token, audiences=[sandbox.public_client_id])


def test_a_genuine_token_gives_the_identity(sandbox, claims):
    who = accept(keys.sign(claims), sandbox)
    assert who.key == f"{sandbox.user('alice').id}.{sandbox.tenant_id}"
    assert who.upn == "alice@contoso.example"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"aud": "00000000-0000-0000-0000-000000000000"}, "InvalidAudienceError"),
        ({"iss": "https://login.microsoftonline.com/common/v2.0"}, "InvalidIssuerError"),
        (
            {"iss": "https://evil.example/5b7c2f1e-8d4a-4c3b-9e6f-1a2b3c4d5e6f/v2.0"},
            "InvalidIssuerError",
        ),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"nbf": int(time.time()) + 3600, "iat": int(time.time()) + 3600}, "not valid yet"),
        ({"tid": "9c8d7e6f-5a4b-4c3d-8e2f-0a1b2c3d4e5f"}, "not allowed"),
        ({"tid": "not-a-guid"}, "no valid tenant id"),
        ({"oid": "not-a-guid"}, "no valid object id"),
    ],
)
def test_a_token_with_wrong_claims_is_refused(sandbox, claims, change, reason):
    with pytest.raises(InvalidIdentityToken, match=reason):
        accept(keys.sign({**claims, **change}), sandbox)


def test_a_token_signed_with_another_key_is_refused(sandbox, claims):
    published = keys.signing_key().kid
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, other, algorithm="RS256", headers={"kid": published})
    with pytest.raises(InvalidIdentityToken, match="InvalidSignatureError"):
        accept(forged, sandbox)


def test_an_unsigned_token_is_refused(sandbox, claims):
    forged = jwt.encode(claims, None, algorithm="none", headers={"kid": keys.signing_key().kid})
    with pytest.raises(InvalidIdentityToken, match="Only RS256"):
        accept(forged, sandbox)


def test_an_hmac_token_keyed_with_the_public_key_is_refused(sandbox, claims):
    forged = jwt.encode(
        claims,
        "a-public-key-used-as-an-hmac-secret-of-32+bytes",
        algorithm="HS256",
        headers={"kid": "x"},
    )
    with pytest.raises(InvalidIdentityToken, match="Only RS256"):
        accept(forged, sandbox)


def test_a_token_from_a_key_the_tenant_never_published_is_refused(sandbox, claims):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, other, algorithm="RS256", headers={"kid": "made-up-kid"})
    with pytest.raises(InvalidIdentityToken, match="does not publish"):
        accept(forged, sandbox)


def test_key_rollover_is_followed_without_a_restart(sandbox, claims):
    accept(keys.sign(claims), sandbox)  # the JWKS is now cached
    keys.rollover()
    assert accept(keys.sign(claims), sandbox).upn == "alice@contoso.example"


def test_a_retired_key_stops_validating(sandbox, claims):
    old_token = keys.sign(claims)
    old_kid = keys.signing_key().kid
    keys.rollover()
    keys.retire(old_kid)
    cache.clear()  # as after the day the portal caches a JWKS
    with pytest.raises(InvalidIdentityToken, match="does not publish"):
        accept(old_token, sandbox)
