"""Where Conditional Access blocks device codes, in a real browser: the person's own code
page offers Sign in with Microsoft at once; the helpdesk sends a sign-in link instead,
which the expected person completes in their own browser and anyone else cannot."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from authflow.models import Role, SignIn, TokenCache, User
from portal.models import AuditEvent
from restore.models import RestoreJob
from tests.restore import factories as f

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def helpdesk(sandbox, page_as):
    heidi = User.objects.create(
        username="helpdesk.heidi", upn="heidi@contoso.example", role=Role.HELPDESK
    )
    return page_as(heidi)


def sign_in_at_microsoft(page, sandbox, alias: str) -> None:
    page.get_by_label("Email or phone").fill(sandbox.upn(alias))
    page.get_by_label("Password").fill(sandbox.password(alias))
    page.get_by_role("button", name="Sign in").click()


def link_from_helpdesk(helpdesk, principal: str) -> str:
    helpdesk.goto("/helpdesk/")
    helpdesk.get_by_label("User (UPN) or group (name or id)").fill(principal)
    helpdesk.get_by_test_id("start-helpdesk-link").click()
    return helpdesk.get_by_test_id("sign-in-link").inner_text()


def waiting_restore_of(sandbox, alias: str) -> RestoreJob:
    """A restore job of `alias` paused until they sign in (their tokens had ended)."""
    person = f.user(alias, oid=sandbox.user(alias).id)
    point = f.point(f.protected_object(person), 1)
    return RestoreJob.objects.create(
        user=person,
        object=point.object,
        restore_point=point,
        target="original",
        status=RestoreJob.Status.WAITING,
        waiting_reason=f"{person} must sign in again.",
    )


def test_the_expected_person_completes_a_link_in_their_own_browser(
    sandbox, celery_worker, helpdesk, browser, live_server
):
    job = waiting_restore_of(sandbox, "alice")
    url = link_from_helpdesk(helpdesk, "alice@contoso.example")
    detail = f"/helpdesk/sign-ins/{SignIn.objects.get(method=SignIn.Method.LINK).code}"

    alice = browser.new_context(base_url=live_server.url).new_page()
    alice.goto(url)
    expect(alice.get_by_test_id("link-expected")).to_have_text("alice@contoso.example")
    alice.get_by_test_id("link-continue").click()
    expect(alice.get_by_label("Email or phone")).to_have_value("alice@contoso.example")
    sign_in_at_microsoft(alice, sandbox, "alice")
    expect(alice.get_by_test_id("signed-in-as")).to_contain_text("Alice Kim", timeout=20_000)
    alice.context.close()
    # Used once: the same link is refused now, in any browser.
    again = browser.new_context(base_url=live_server.url).new_page()
    assert again.goto(url).status == 410
    expect(again.get_by_test_id("link-error")).to_contain_text("already used")
    expect(again.get_by_test_id("link-continue")).to_have_count(0)
    again.context.close()

    helpdesk.goto(detail)
    expect(helpdesk.get_by_test_id("helpdesk-result")).to_contain_text(
        "Signed in as alice@contoso.example"
    )
    row = TokenCache.objects.get(user__upn="alice@contoso.example")
    assert row.status == TokenCache.Status.VALID
    assert row.method == TokenCache.Method.BROWSER
    assert row.started_by.upn == "heidi@contoso.example"
    # The restore that waited for her goes on by itself.
    job.refresh_from_db()
    assert job.status != RestoreJob.Status.WAITING
    assert job.log.filter(message__contains="signed in; the restore continues").exists()


def test_someone_else_completing_a_link_is_refused_audited_and_shown(
    sandbox, celery_worker, helpdesk, browser, live_server
):
    url = link_from_helpdesk(helpdesk, "alice@contoso.example")
    detail = f"/helpdesk/sign-ins/{SignIn.objects.get(method=SignIn.Method.LINK).code}"

    mallory = browser.new_context(base_url=live_server.url).new_page()
    mallory.goto(url)
    mallory.get_by_test_id("link-continue").click()
    sign_in_at_microsoft(mallory, sandbox, "bob")
    expect(mallory.get_by_test_id("link-error")).to_contain_text("Nobody was signed in")
    mallory.goto("/backups/")
    expect(mallory).to_have_url(f"{live_server.url}/auth/sign-in?next=/backups/")
    mallory.context.close()

    helpdesk.goto(detail)
    expect(helpdesk.get_by_test_id("helpdesk-result")).to_contain_text("Wrong account")
    expect(helpdesk.get_by_test_id("helpdesk-result")).to_contain_text("bob@contoso.example")
    assert not TokenCache.objects.exists()
    sign_in = SignIn.objects.get(method=SignIn.Method.LINK)
    assert sign_in.status == SignIn.Status.WRONG_ACCOUNT
    assert AuditEvent.objects.filter(
        action="sign_in.wrong_account", target=str(sign_in.code), outcome="denied"
    ).exists()


def test_an_expired_link_is_refused_in_the_browser(sandbox, helpdesk, browser, live_server):
    url = link_from_helpdesk(helpdesk, "alice@contoso.example")
    SignIn.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    alice = browser.new_context(base_url=live_server.url).new_page()
    assert alice.goto(url).status == 410
    expect(alice.get_by_test_id("link-error")).to_contain_text("expired")
    alice.context.close()
    assert SignIn.objects.get().status == SignIn.Status.EXPIRED


def test_a_blocked_code_offers_sign_in_with_microsoft_at_once(
    sandbox, celery_worker, settings, page
):
    settings.SELF_DEVICE_CODE_SIGN_IN = True
    sandbox.policy(device_code_interval=1, device_code_blocked_users=["alice@contoso.example"])
    page.goto("/auth/sign-in?next=/backups/")
    page.get_by_test_id("sign-in-code").click()
    code = page.get_by_test_id("user-code").inner_text()
    sandbox.approve(code, "alice")

    expect(page.get_by_test_id("sign-in-message")).to_contain_text(
        "blocked by your organisation", timeout=20_000
    )
    page.get_by_test_id("sign-in-browser").click()
    sign_in_at_microsoft(page, sandbox, "alice")
    expect(page.get_by_test_id("signed-in-as")).to_contain_text("Alice Kim", timeout=20_000)
    assert SignIn.objects.get(method=SignIn.Method.DEVICE_CODE).error == "AADSTS53003"


def test_the_helpdesk_gets_a_link_when_the_code_was_blocked(sandbox, celery_worker, helpdesk):
    sandbox.policy(device_code_interval=1, device_code_blocked=True)
    helpdesk.goto("/helpdesk/")
    helpdesk.get_by_label("User (UPN) or group (name or id)").fill("alice@contoso.example")
    helpdesk.get_by_test_id("start-helpdesk-sign-in").click()
    sandbox.approve(helpdesk.get_by_test_id("user-code").inner_text(), "alice")

    expect(helpdesk.get_by_test_id("helpdesk-result")).to_contain_text(
        "Conditional Access blocks sign-in with a code", timeout=20_000
    )
    helpdesk.get_by_test_id("link-instead").click()
    expect(helpdesk.get_by_test_id("sign-in-link")).to_contain_text("/auth/link?key=")
    assert SignIn.objects.filter(method=SignIn.Method.LINK, status="pending").count() == 1
