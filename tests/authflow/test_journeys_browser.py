"""The helpdesk and admin journeys in a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from authflow.models import Role, User

pytestmark = pytest.mark.browser


def test_helpdesk_starts_a_sign_in_for_alice_and_watches_it_complete(
    sandbox, celery_worker, page_as
):
    sandbox.policy(device_code_interval=1)
    heidi = User.objects.create(
        username="helpdesk.heidi", upn="heidi@contoso.example", role=Role.HELPDESK
    )
    helpdesk = page_as(heidi)
    helpdesk.goto("/helpdesk/")
    helpdesk.get_by_label("User (UPN) or group (name or id)").fill("alice@contoso.example")
    helpdesk.get_by_test_id("start-helpdesk-sign-in").click()
    expect(helpdesk.get_by_test_id("relay-message")).to_contain_text(
        "sign in as alice@contoso.example"
    )
    code = helpdesk.get_by_test_id("user-code").inner_text()

    # Alice, elsewhere, on Microsoft's page.
    alice = helpdesk.context.browser.new_context().new_page()
    alice.goto(sandbox.device_login_url)
    alice.get_by_placeholder("Code").fill(code)
    alice.get_by_role("button", name="Next").click()
    alice.get_by_label("Email or phone").fill(sandbox.upn("alice"))
    alice.get_by_label("Password").fill(sandbox.password("alice"))
    alice.get_by_role("button", name="Sign in").click()
    alice.get_by_role("button", name="Continue").click()
    alice.context.close()

    expect(helpdesk.get_by_test_id("helpdesk-result")).to_contain_text(
        "Signed in as alice@contoso.example", timeout=20_000
    )


def test_admin_sees_alice_among_logged_in_users_and_revokes_her(alice, page_as):
    ivan = User.objects.create(username="admin.ivan", upn="ivan@contoso.example", role=Role.ADMIN)
    admin = page_as(ivan)
    admin.goto("/admin/logged-in-users")
    row = admin.locator(f'tr[data-identity="{alice.identity}"]')
    expect(row.get_by_test_id("status")).to_have_text("Valid")
    expect(row).to_contain_text("alice@contoso.example")

    admin.once("dialog", lambda dialog: dialog.accept())  # "Revoke …? Their tokens … end"
    row.get_by_test_id("revoke").click()

    expect(
        admin.locator(f'tr[data-identity="{alice.identity}"]').get_by_test_id("status")
    ).to_have_text("Revoked")
    admin.goto("/admin/audit")
    expect(admin.get_by_test_id("audit-log")).to_contain_text("token.revoked")
