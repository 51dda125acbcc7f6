"""An account disabled, deleted or whose sessions were revoked in the tenant loses all
portal access within the check's period, even when idle: the periodic task
(authflow.tasks.check_accounts, every 5 minutes by beat) asks Graph. The tests call the
task as beat would and move the clock by setting when access began; nothing sleeps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from api import tokens as api_tokens
from authflow import account_checks, tasks
from authflow.models import TokenCache, User
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def accounts_older_than_any_sign_in(sandbox):
    """The seeded accounts' sessions were last revoked long ago (seeding is recent)."""
    from sandbox.models import DirectoryUser

    DirectoryUser.objects.update(sign_in_sessions_valid_from=timezone.now() - timedelta(days=1))


def holding_everything(user: User) -> tuple[Client, api_tokens.IssuedPair]:
    """An open browser session and a live API token family for `user`, begun a while ago."""
    browser = Client()
    browser.force_login(user)
    assert browser.get("/backups/").status_code == 200
    pair = api_tokens.issue(user, grant="operator")
    a_while_ago = timezone.now() - timedelta(minutes=3)
    User.objects.filter(pk=user.pk).update(last_login=a_while_ago)
    TokenCache.objects.filter(user=user).update(signed_in_at=a_while_ago)
    return browser, pair


def assert_no_access_left(user: User, browser: Client, pair: api_tokens.IssuedPair, reason: str):
    answer = browser.get("/backups/")
    assert answer.status_code == 302
    assert answer["Location"].startswith("/auth/sign-in")
    with pytest.raises(api_tokens.TokenRefused):
        api_tokens.authenticate(pair.access_token)
    tokens = TokenCache.objects.get(user=user)
    assert tokens.status == TokenCache.Status.NEEDS_SIGN_IN
    assert tokens.ciphertext in (b"", memoryview(b""))
    event = AuditEvent.objects.get(action="identity.access_ended", on_behalf_of=user.identity)
    assert event.details["reason"] == reason


def assert_untouched(browser: Client, pair: api_tokens.IssuedPair):
    assert browser.get("/backups/").status_code == 200
    api_tokens.authenticate(pair.access_token)


def test_the_check_runs_often_enough_to_end_access_within_ten_minutes():
    entry = settings.CELERY_BEAT_SCHEDULE["check-accounts"]
    assert entry["task"] == tasks.check_accounts.name
    assert isinstance(entry["schedule"], float)
    assert entry["schedule"] <= 5 * 60  # a run every 5 minutes, done well within 10


def test_a_disabled_account_loses_every_session_and_token(sandbox, alice, sign_in_with_code):
    bob = sign_in_with_code("bob").result_user
    alice_browser, alice_pair = holding_everything(alice)
    bob_browser, bob_pair = holding_everything(bob)
    directory_alice = sandbox.user("alice")
    directory_alice.account_enabled = False
    directory_alice.save()

    tasks.check_accounts()

    assert_no_access_left(alice, alice_browser, alice_pair, account_checks.DISABLED)
    assert_untouched(bob_browser, bob_pair)
    assert TokenCache.objects.get(user=bob).status == TokenCache.Status.VALID


def test_revoked_sessions_end_access_that_began_before_and_spare_a_later_sign_in(
    sandbox, alice, sign_in_with_code
):
    bob = sign_in_with_code("bob").result_user
    alice_browser, alice_pair = holding_everything(alice)
    bob_browser, bob_pair = holding_everything(bob)
    sandbox.user("alice").revoke_sign_in_sessions()  # now: after alice's access began

    tasks.check_accounts()

    assert_no_access_left(alice, alice_browser, alice_pair, account_checks.REVOKED)
    assert_untouched(bob_browser, bob_pair)


def test_a_deleted_account_loses_access_and_an_idle_api_only_holder_is_checked_too(sandbox, alice):
    alice_browser, alice_pair = holding_everything(alice)
    sandbox.user("alice").delete()

    tasks.check_accounts()

    assert_no_access_left(alice, alice_browser, alice_pair, account_checks.DELETED)


def test_holders_are_asked_about_in_batches_graph_accepts(sandbox, alice):
    # More holders than one `in` filter takes: 15 per request, every one still checked.
    from tests.restore import factories as f

    strangers = [f.user(f"stranger{i}") for i in range(20)]
    for person in strangers:
        Client().force_login(person)
    holding_everything(alice)

    stats = account_checks.check_accounts()

    assert stats.checked == 21
    assert stats.skipped_tenants == 0
    # Strangers unknown to the directory are deleted accounts: their sessions end.
    assert stats.ended == 20
    assert TokenCache.objects.get(user=alice).status == TokenCache.Status.VALID
