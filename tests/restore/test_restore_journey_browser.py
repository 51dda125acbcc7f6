"""The product's "done" story in a real browser: Alice signs in with a code, finds the
message she deleted in an older restore point, restores it to where it was, watches the
job finish on a real worker, and sees the message back in her mailbox.

The catalog comes from the real backup engine: a backup, the demo's changes (Alice deletes
"Q3 budget — final"), and a second backup, as `make run` seeds the demo.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from restore.backup import runner
from restore.models import RestorePoint
from sandbox import demo
from tests.restore.jobs_support import back_up_mailbox

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BUDGET = demo.BUDGET_SUBJECT


def two_restore_points() -> tuple[RestorePoint, RestorePoint]:
    first = back_up_mailbox("alice")
    demo.apply_demo_changes()
    second = runner.run(first.object).point
    assert second.status == RestorePoint.Status.SUCCEEDED, second.error
    return first, second


def sign_in_with_a_code(page, sandbox) -> None:
    """Alice on the portal's "Sign in with a code", and on Microsoft's page in a new tab."""
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign in").click()
    page.get_by_test_id("sign-in-code").click()
    code = page.get_by_test_id("user-code").inner_text()
    with page.context.expect_page() as opened:
        page.get_by_test_id("verification-uri").click()
    microsoft = opened.value
    microsoft.get_by_placeholder("Code").fill(code)
    microsoft.get_by_role("button", name="Next").click()
    microsoft.get_by_label("Email or phone").fill(sandbox.upn("alice"))
    microsoft.get_by_label("Password").fill(sandbox.password("alice"))
    microsoft.get_by_role("button", name="Sign in").click()
    microsoft.get_by_role("button", name="Continue").click()
    expect(microsoft.get_by_test_id("device-result")).to_contain_text("You have signed in")
    microsoft.close()
    expect(page.get_by_test_id("signed-in-as")).to_contain_text("Alice Kim", timeout=20_000)


def item_names(page) -> list[str]:
    return page.get_by_test_id("item").locator("td:nth-child(2) a").all_inner_texts()


def test_alice_restores_a_deleted_message_from_an_older_restore_point(sandbox, celery_worker, page):
    from sandbox.models import Attachment, Message

    sandbox.policy(device_code_interval=1)
    alice_box = sandbox.user("alice")
    original = Message.objects.get(mailbox=alice_box, subject=BUDGET)
    received, attachments = (
        original.received_at,
        list(Attachment.objects.filter(message=original).values_list("name", flat=True)),
    )
    assert attachments == ["Q3 budget final.xlsx"]
    older, newer = two_restore_points()
    assert not Message.objects.filter(folder__well_known_name="inbox", subject=BUDGET).exists()

    sign_in_with_a_code(page, sandbox)

    # My backups → her mailbox → two restore points, newest first.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My backups").click()
    owner = page.get_by_test_id("owner").filter(has_text="Alice Kim")
    expect(owner.get_by_test_id("object").filter(has_text="Mailbox")).to_contain_text("2")
    owner.get_by_role("link", name="Mailbox").click()
    points = page.get_by_test_id("point")
    expect(points).to_have_count(2)
    expect(points.locator("td:first-child")).to_have_text(["2", "1"])

    # The newer point's Inbox no longer has it.
    points.first.get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"/backups/points/{newer.pk}/"))
    page.get_by_role("complementary", name="Folders").get_by_role(
        "link", name="Inbox", exact=True
    ).click()
    expect(page.get_by_test_id("item").first).to_be_visible()
    assert "Q4 planning kickoff" in item_names(page)
    assert BUDGET not in item_names(page)
    page.go_back()
    page.go_back()

    # Search finds it, held by the older point only.
    page.get_by_label("Search this backup").fill("Q3 budget final")
    page.get_by_role("button", name="Search").click()
    result = page.get_by_test_id("result").filter(has_text=BUDGET)
    expect(result).to_have_count(1)
    expect(result).to_contain_text("only the backup of")

    # The older point's Inbox has it: select it, restore to the original location.
    page.go_back()
    expect(points).to_have_count(2)
    points.last.get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"/backups/points/{older.pk}/"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("restore point 1")
    page.get_by_role("complementary", name="Folders").get_by_role(
        "link", name="Inbox", exact=True
    ).click()
    page.get_by_label(f"Select {BUDGET}").check()
    page.get_by_label("Original location").check()
    # The dry run first: what will happen, without leaving the form.
    page.get_by_test_id("preview").click()
    expect(page.get_by_test_id("plan-items")).to_contain_text(BUDGET)
    expect(page.get_by_test_id("plan-totals")).to_contain_text("1 will be restored")
    page.get_by_test_id("restore").click()

    expect(page).to_have_url(re.compile(r"/backups/jobs/[0-9a-f-]+/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Restore of 1 item")
    expect(page.get_by_test_id("job-status")).to_have_text("Completed", timeout=30_000)
    expect(page.get_by_test_id("progress-items")).to_contain_text("1 restored, 0 skipped, 0 failed")
    expect(page.get_by_test_id("progress-verified")).to_have_text("1 restored, 1 verified")

    # Back in the mailbox, as the sandbox's own viewer shows it.
    viewer = page.context.new_page()
    viewer.goto(f"{sandbox.url}/")
    viewer.get_by_role("row").filter(has_text=sandbox.upn("alice")).get_by_role(
        "link", name="Mailbox"
    ).click()
    expect(viewer.get_by_role("heading", level=2)).to_have_text("Inbox")
    row = viewer.get_by_role("row").filter(has_text=BUDGET)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("📎")
    expect(row).not_to_contain_text("draft")
    row.get_by_role("link", name=BUDGET).click()
    expect(viewer.get_by_role("row").filter(has_text="Flags")).to_contain_text("not a draft")
    expect(viewer.get_by_role("row").filter(has_text="Received")).to_contain_text(
        received.strftime("%Y-%m-%d %H:%M:%S")
    )
    expect(viewer.get_by_role("listitem").filter(has_text="Q3 budget final.xlsx")).to_be_visible()

    # And in the sandbox's store: in Inbox, not a draft, received when it was, attachment.
    restored = Message.objects.get(
        mailbox=alice_box, folder__well_known_name="inbox", subject=BUDGET
    )
    assert restored.is_draft is False
    assert restored.received_at == received
    assert restored.has_attachments
    assert (
        list(Attachment.objects.filter(message=restored).values_list("name", flat=True))
        == attachments
    )
