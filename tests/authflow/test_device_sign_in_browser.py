"""The device-code journey in a real browser: the portal in one tab, Microsoft's (the
sandbox's) device login page in another."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_sign_in_with_a_code_in_two_tabs(sandbox, celery_worker, page):
    sandbox.policy(device_code_interval=1)
    page.goto("/auth/sign-in?next=/auth/profile")
    page.get_by_test_id("sign-in-code").click()
    code = page.get_by_test_id("user-code").inner_text()
    # The countdown ticks in the browser (the server renders "15 minutes").
    expect(page.locator(".countdown")).to_have_text(re.compile(r"^1[45]:\d\d$"))

    with page.context.expect_page() as opened:
        page.get_by_test_id("verification-uri").click()
    microsoft = opened.value
    microsoft.get_by_placeholder("Code").fill(code)
    microsoft.get_by_role("button", name="Next").click()
    microsoft.get_by_label("Email or phone").fill(sandbox.upn("alice"))
    microsoft.get_by_label("Password").fill(sandbox.password("alice"))
    microsoft.get_by_role("button", name="Sign in").click()
    expect(microsoft.get_by_role("heading")).to_contain_text("Are you trying to sign in to")
    microsoft.get_by_role("button", name="Continue").click()
    expect(microsoft.get_by_test_id("device-result")).to_contain_text("You have signed in")

    # The portal tab notices by itself and moves on, signed in.
    expect(page).to_have_url(f"{sandbox.url.removesuffix('/sandbox')}/auth/profile", timeout=20_000)
    expect(page.get_by_test_id("signed-in-as")).to_contain_text("Alice Kim")
    expect(page.get_by_test_id("identity")).to_have_text(
        f"{sandbox.user('alice').id}.{sandbox.tenant_id}"
    )


def test_cancel_on_microsofts_page_shows_declined(sandbox, celery_worker, page):
    sandbox.policy(device_code_interval=1)
    page.goto("/auth/sign-in")
    page.get_by_test_id("sign-in-code").click()
    code = page.get_by_test_id("user-code").inner_text()

    microsoft = page.context.new_page()
    microsoft.goto(sandbox.device_login_url)
    microsoft.get_by_placeholder("Code").fill(code)
    microsoft.get_by_role("button", name="Next").click()
    microsoft.get_by_label("Email or phone").fill(sandbox.upn("alice"))
    microsoft.get_by_label("Password").fill(sandbox.password("alice"))
    microsoft.get_by_role("button", name="Sign in").click()
    microsoft.get_by_role("button", name="Cancel").click()

    expect(page.get_by_test_id("sign-in-message")).to_contain_text(
        "cancelled on the sign-in page", timeout=20_000
    )
