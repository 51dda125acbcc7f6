"""Revocation that revokes: an admin's Revoke, the person's "sign out everywhere" and
"Forget my tokens" end every web session, API token family, pending sign-in and the
download in progress, at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from api import tokens as api_tokens
from authflow import access, identities
from authflow.models import SignIn
from portal.models import AuditEvent
from tests.restore import factories as f

pytestmark = pytest.mark.django_db(transaction=True)


def signed_in(user):
    browser = Client()
    browser.force_login(user)
    assert browser.get("/backups/").status_code == 200
    return browser


def pending_sign_in(**fields) -> SignIn:
    return SignIn.objects.create(
        method=SignIn.Method.DEVICE_CODE,
        tenant="organizations",
        expires_at=timezone.now() + timedelta(minutes=15),
        **fields,
    )


def assert_signed_out(browser: Client) -> None:
    answer = browser.get("/backups/")
    assert answer.status_code == 302
    assert answer["Location"].startswith("/auth/sign-in")


def test_an_admin_revoke_ends_every_session_token_and_pending_sign_in():
    alice, ivan = f.user("alice"), f.user("ivan")
    laptop, phone = signed_in(alice), signed_in(alice)
    bystander = signed_in(ivan)
    pair = api_tokens.issue(alice, grant="operator")
    waiting = pending_sign_in(expected_identity=alice.identity)
    started = pending_sign_in(started_by=alice)

    identities.revoke_identity(alice, by=ivan)

    assert_signed_out(laptop)
    assert_signed_out(phone)
    assert bystander.get("/backups/").status_code == 200  # nobody else is touched
    with pytest.raises(api_tokens.TokenRefused):
        api_tokens.authenticate(pair.access_token)
    for attempt in (waiting, started):
        attempt.refresh_from_db()
        assert attempt.status == SignIn.Status.CANCELLED
        assert "Revoked by" in attempt.message


def test_sign_out_everywhere_is_the_persons_own_revoke():
    alice = f.user("alice")
    here, elsewhere = signed_in(alice), signed_in(alice)
    pair = api_tokens.issue(alice, grant="operator")

    answer = here.post("/auth/profile/sign-out-everywhere")
    assert answer.status_code == 302
    assert_signed_out(here)
    assert_signed_out(elsewhere)
    with pytest.raises(api_tokens.TokenRefused):
        api_tokens.authenticate(pair.access_token)
    assert AuditEvent.objects.filter(
        action="identity.signed_out_everywhere", on_behalf_of=alice.identity
    ).exists()


def test_forget_my_tokens_also_ends_api_tokens_and_other_sessions():
    alice = f.user("alice")
    here, elsewhere = signed_in(alice), signed_in(alice)
    pair = api_tokens.issue(alice, grant="operator")
    here.post("/auth/profile/forget-tokens")
    assert_signed_out(elsewhere)
    assert_signed_out(here)
    with pytest.raises(api_tokens.TokenRefused):
        api_tokens.authenticate(pair.access_token)


def test_a_download_in_progress_stops_when_access_is_revoked(monkeypatch):
    monkeypatch.setattr(access, "REVOCATION_CHECK_SECONDS", 0)
    alice, ivan = f.user("alice"), f.user("ivan")
    drive = f.protected_object(alice, workload="onedrive")
    folder = f.folder(drive, "Documents")
    big = f.file(drive, folder, "video.bin", content=b"x" * (5 * 1024 * 1024))
    browser = signed_in(alice)

    answer = browser.get(f"/backups/items/{big.pk}/download")
    assert answer.status_code == 200
    assert answer["Content-Length"] == str(5 * 1024 * 1024)
    assert 'filename="video.bin"' in answer["Content-Disposition"]
    chunks = iter(answer.streaming_content)
    received = len(next(chunks))
    identities.revoke_identity(alice, by=ivan)
    received += sum(len(chunk) for chunk in chunks)
    assert received < 5 * 1024 * 1024


def test_a_download_nobody_revokes_arrives_whole(monkeypatch):
    monkeypatch.setattr(access, "REVOCATION_CHECK_SECONDS", 0)
    alice = f.user("alice")
    drive = f.protected_object(alice, workload="onedrive")
    big = f.file(drive, f.folder(drive, "Documents"), "video.bin", content=b"y" * 3_000_000)
    answer = signed_in(alice).get(f"/backups/items/{big.pk}/download")
    assert b"".join(answer.streaming_content) == b"y" * 3_000_000


@pytest.mark.parametrize(
    ("change", "reason"),
    [("disable", "disabled"), ("revoke_sessions", "sessions were revoked")],
)
def test_microsoft_refusing_the_person_ends_every_session(
    sign_in_with_code, sandbox, change, reason
):
    """A refresh that Entra refuses with AADSTS50057 (disabled) or AADSTS50173 (sessions
    revoked) ends the person's browser sessions and API tokens too, not only the tokens."""
    from authflow import tokens

    attempt = sign_in_with_code("alice")
    alice = attempt.result_user
    browser = signed_in(alice)
    pair = api_tokens.issue(alice, grant="operator")
    person = sandbox.user("alice")
    if change == "disable":
        person.account_enabled = False
        person.save(update_fields=["account_enabled"])
    else:
        person.revoke_sign_in_sessions()

    with pytest.raises(tokens.SignInRequired, match=reason):
        tokens.access_token(alice, ["User.Read"], force_refresh=True)

    assert_signed_out(browser)
    with pytest.raises(api_tokens.TokenRefused):
        api_tokens.authenticate(pair.access_token)
    ended = AuditEvent.objects.get(action="identity.access_ended")
    assert reason in ended.details["reason"]
