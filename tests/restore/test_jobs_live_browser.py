"""The job page in Chromium: per-item results arrive while the page stays open."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from restore.jobs import lifecycle, runner
from restore.models import Item
from restore.scope import Scope
from tests.restore.jobs_support import back_up_mailbox

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_item_results_appear_without_a_reload(sandbox, alice, page_as, session_workers_paused):
    point = back_up_mailbox("alice")
    items = list(Item.objects.filter(object=point.object).order_by("id")[:3])
    job = lifecycle.create_job(
        Scope.for_user(alice), point, [i.pk for i in items], [], "folder", "Live", "skip"
    )
    page = page_as(alice)
    page.goto(f"/backups/jobs/{job.pk}/")
    rows = page.get_by_test_id("job-items").locator("tr[data-item]")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("Pending")
    page.evaluate("window.__same_document = true")  # gone if the page reloads

    runner.run(job.pk)  # no worker is running: the job runs here, the page polls

    expect(page.get_by_test_id("job-status")).to_have_text("Completed", timeout=30_000)
    for index in range(3):
        expect(rows.nth(index)).to_have_attribute("data-status", "done")
        expect(rows.nth(index)).to_contain_text("Restored")
    assert page.evaluate("window.__same_document") is True


def test_the_restore_form_shows_the_folder_name_only_for_a_new_folder(sandbox, alice, page_as):
    point = back_up_mailbox("alice")
    page = page_as(alice)
    page.goto(f"/backups/points/{point.pk}/")
    name = page.get_by_label("New folder name")
    collision = page.get_by_label("If an item is already there")
    expect(name).to_be_hidden()  # "Original location" is chosen first
    page.get_by_label("New folder", exact=True).check()
    expect(name).to_be_visible()
    page.get_by_label("Download").check()
    expect(name).to_be_hidden()
    expect(collision).to_be_hidden()  # a download has nothing already there
    page.get_by_label("Original location").check()
    expect(collision).to_be_visible()
