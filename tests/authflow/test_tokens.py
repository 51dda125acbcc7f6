"""access_token(): silent, refreshed ahead of expiry, serialised per identity, and loud
(SignInRequired) when the refresh token is dead."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection

from authflow import encryption, tokens
from authflow.models import TokenCache
from portal.models import AuditEvent
from sandbox.models import RefreshToken

SCOPES = ["Mail.ReadWrite"]


def issued_refresh_tokens() -> int:
    return RefreshToken.objects.count()


def test_a_valid_cached_token_is_returned_without_asking_microsoft(alice):
    before = issued_refresh_tokens()
    first = tokens.access_token(alice, SCOPES)
    second = tokens.access_token(alice, SCOPES)
    assert first == second
    assert issued_refresh_tokens() == before


def test_a_token_close_to_expiry_is_refreshed_and_the_rotated_refresh_token_kept(
    sandbox, sign_in_with_code
):
    sandbox.policy(access_token_min_lifetime=200, access_token_max_lifetime=200)
    user = sign_in_with_code("alice").result_user
    sandbox.policy(access_token_min_lifetime=3600, access_token_max_lifetime=3600)
    row = TokenCache.objects.get(user=user)
    before, old_cipher = issued_refresh_tokens(), bytes(row.ciphertext)

    token = tokens.access_token(user, SCOPES)

    assert issued_refresh_tokens() == before + 1
    row.refresh_from_db()
    assert bytes(row.ciphertext) != old_cipher
    newest = RefreshToken.objects.order_by("-issued_at").first()
    assert newest.token_hash in {
        __import__("hashlib").sha256(secret.encode()).hexdigest()
        for secret in _refresh_secrets(row)
    }
    assert token == tokens.access_token(user, SCOPES)  # now cached: no second refresh
    assert issued_refresh_tokens() == before + 1


def _refresh_secrets(row):
    import json

    cache = json.loads(encryption.decrypt(row.ciphertext))
    return [entry["secret"] for entry in cache["RefreshToken"].values()]


def test_two_workers_refreshing_at_once_make_one_refresh(sandbox, sign_in_with_code):
    sandbox.policy(access_token_min_lifetime=200, access_token_max_lifetime=200)
    user = sign_in_with_code("alice").result_user
    sandbox.policy(access_token_min_lifetime=3600, access_token_max_lifetime=3600)
    before = issued_refresh_tokens()
    results, start = [], threading.Barrier(2)

    def worker():
        start.wait()
        try:
            results.append(tokens.access_token(user, SCOPES))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(results) == 2
    assert results[0] == results[1]
    assert issued_refresh_tokens() == before + 1


def test_a_revoked_refresh_token_means_needs_sign_in(sandbox, sign_in_with_code):
    sandbox.policy(access_token_min_lifetime=200, access_token_max_lifetime=200)
    user = sign_in_with_code("alice").result_user
    sandbox.user("alice").revoke_sign_in_sessions()  # what an Entra admin does

    with pytest.raises(tokens.SignInRequired) as raised:
        tokens.access_token(user, SCOPES)

    assert "AADSTS50173" in raised.value.reason or "revoked" in raised.value.reason
    row = TokenCache.objects.get(user=user)
    assert row.status == TokenCache.Status.NEEDS_SIGN_IN
    assert bytes(row.ciphertext) == b""
    assert AuditEvent.objects.filter(action="token.refresh_failed").exists()
    with pytest.raises(tokens.SignInRequired):
        tokens.access_token(user, SCOPES)


def test_revoking_in_the_portal_makes_later_use_fail(alice):
    assert tokens.revoke(alice, by=None, reason="Revoked by an admin.")
    with pytest.raises(tokens.SignInRequired, match="Revoked by an admin"):
        tokens.access_token(alice, SCOPES)
    assert TokenCache.objects.get(user=alice).status == TokenCache.Status.REVOKED


def test_refresh_ahead_renews_tokens_that_expire_soon(sandbox, sign_in_with_code):
    from authflow.tasks import refresh_tokens_ahead

    sandbox.policy(access_token_min_lifetime=600, access_token_max_lifetime=600)
    user = sign_in_with_code("alice").result_user
    sandbox.policy(access_token_min_lifetime=3600, access_token_max_lifetime=3600)
    row = TokenCache.objects.get(user=user)
    assert row.access_token_expires_at < row.signed_in_at + timedelta(minutes=15)

    refresh_tokens_ahead()

    row.refresh_from_db()
    assert row.access_token_expires_at > row.signed_in_at + timedelta(minutes=50)


def test_device_code_tokens_refresh_as_the_public_client(sandbox, sign_in_with_code):
    sandbox.policy(access_token_min_lifetime=200, access_token_max_lifetime=200)
    user = sign_in_with_code("alice").result_user
    tokens.access_token(user, SCOPES)
    assert set(RefreshToken.objects.values_list("client_type", flat=True)) == {"public"}
