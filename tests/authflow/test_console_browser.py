"""The logged-in users page in Chromium: actions in view, Revoke confirmed, filters kept."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from authflow.models import Role, TokenCache, User

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [1024, 1280])
def test_revoke_stays_in_view_asks_first_and_keeps_the_filters(sandbox, alice, page_as, width):
    admin = User.objects.create(username="admin.ivan", upn="ivan@contoso.example", role=Role.ADMIN)
    page = page_as(admin)
    page.set_viewport_size({"width": width, "height": 800})
    page.goto("/admin/logged-in-users?q=alice&sort=signed_in")
    row = page.locator(f'tr[data-identity="{alice.identity}"]')
    revoke = row.get_by_test_id("revoke")
    expect(revoke).to_be_visible()
    box = revoke.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= width  # not cut off at the right edge

    questions: list[str] = []

    def say_no(dialog) -> None:
        questions.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", say_no)
    revoke.click()
    expect(revoke).to_be_visible()
    assert questions
    assert "Revoke alice@" in questions[0]
    assert TokenCache.objects.get(user=alice).status == TokenCache.Status.VALID  # said no

    page.once("dialog", lambda dialog: dialog.accept())
    revoke.click()
    expect(page.get_by_role("status")).to_contain_text("Revoked the tokens of")
    assert page.url.endswith("/admin/logged-in-users?q=alice&sort=signed_in")
    expect(page.get_by_label("Search")).to_have_value("alice")
    assert TokenCache.objects.get(user=alice).status != TokenCache.Status.VALID
