from __future__ import annotations

import io
import json

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from authflow import encryption, tokens
from authflow.models import TokenCache


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_logged_users_lists_identities_with_their_token_facts(alice):
    [row] = json.loads(run("logged_users", "--json"))
    assert row["upn"] == "alice@contoso.example"
    assert row["identity"] == alice.identity
    assert row["status"] == "valid"
    assert row["started_by"] == "self"
    assert row["access_token_expires_at"]
    assert "alice@contoso.example" in run("logged_users")


def test_logged_users_shows_revoked_identities(alice):
    tokens.revoke(alice, by=None, reason="test")
    [row] = json.loads(run("logged_users", "--json"))
    assert row["status"] == "revoked"


def test_rotating_keys_keeps_tokens_readable_under_the_new_key_only(alice, settings):
    old_key = settings.TOKEN_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.TOKEN_ENCRYPTION_KEYS = [new_key, old_key]

    assert "Re-encrypted 1 token caches" in run("rotate_token_keys")

    settings.TOKEN_ENCRYPTION_KEYS = [new_key]
    row = TokenCache.objects.get(user=alice)
    assert "RefreshToken" in json.loads(encryption.decrypt(row.ciphertext))
    assert tokens.access_token(alice, ["Mail.ReadWrite"])


def test_rotation_refuses_when_a_key_is_missing(alice, settings):
    settings.TOKEN_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(Exception, match="can't be read with any configured key"):
        run("rotate_token_keys")
