from __future__ import annotations

import io
import json

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from authflow import encryption, tokens
from authflow.models import SignIn, TokenCache, User
from portal.models import AuditEvent
from tests.conftest import wait_for


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


def test_login_prints_whom_to_sign_in_as_and_the_code(sandbox):
    out = run("login", "alice@contoso.example")
    sign_in = SignIn.objects.get()
    assert "We don't have a valid token for alice@contoso.example" in out
    assert f"enter the code {sign_in.user_code} to authenticate" in out
    assert "Please do it with alice@contoso.example" in out
    assert sign_in.expected_identity == f"{sandbox.user('alice').id}.{sandbox.tenant_id}"


def test_login_json_and_wait_reports_the_final_status(sandbox, celery_worker):
    sandbox.policy(device_code_interval=1)
    import threading

    def approve_when_started():
        started = wait_for(lambda: SignIn.objects.first(), timeout=20)
        sandbox.approve(started.user_code, "alice")

    threading.Thread(target=approve_when_started).start()
    lines = run("login", "alice@contoso.example", "--json", "--wait", "60").strip().splitlines()
    started, ended = json.loads(lines[0]), json.loads(lines[-1])
    assert set(started) == {"sign_in_id", "user_code", "verification_uri", "expires_at", "status"}
    assert started["status"] == "pending"
    assert ended["status"] == "completed"


def test_login_says_when_valid_tokens_exist(alice):
    out = run("login", "alice@contoso.example")
    assert "We have a valid token got from account: alice@contoso.example" in out
    assert SignIn.objects.count() == 1  # only the fixture's sign-in


def test_login_for_an_unknown_user_fails_clearly(sandbox):
    with pytest.raises(CommandError, match=r"There is no user nobody@contoso\.example"):
        run("login", "nobody@contoso.example")


def test_grant_binds_the_role_to_the_identity_before_the_first_sign_in(sandbox):
    out = run("grant", "admin", "grace@contoso.example")
    grace = User.objects.get(upn="grace@contoso.example")
    assert grace.identity == f"{sandbox.user('grace').id}.{sandbox.tenant_id}"
    assert grace.role == "admin"
    assert "is now Admin" in out
    assert AuditEvent.objects.filter(action="role.changed", on_behalf_of=grace.identity).exists()
