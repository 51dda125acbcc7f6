"""Every page of the three journeys (a person restoring, an admin, a helpdesk operator) in
Chromium: usable at a phone's 390 px (no sideways page scroll) and free of serious or
critical accessibility violations (axe-core, injected by Playwright). Screenshots of each
page at 390 x 844 are kept in var/test-artifacts/phone/ for a person to look at."""

from __future__ import annotations

from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.urls import reverse

from authflow.models import Role, User
from restore.jobs import lifecycle
from restore.models import Folder, Item
from restore.scope import Scope
from tests.restore.jobs_support import back_up_drive, back_up_mailbox

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "phone"
PHONE = {"width": 390, "height": 844}
SERIOUS = ("serious", "critical")


@pytest.fixture
def journeys(sandbox, alice):
    """The pages of the three journeys, with real data behind them."""
    mail, drive = back_up_mailbox("alice"), back_up_drive("alice")
    inbox = Folder.objects.get(object=mail.object, well_known="inbox")
    item = Item.objects.filter(object=mail.object, folder=inbox).first()
    job = lifecycle.create_job(Scope.for_user(alice), mail, [item.pk], [], "download")
    admin = User.objects.create(
        username="admin.ivan", upn="ivan@contoso.example", display_name="Ivan", role=Role.ADMIN
    )
    helpdesk = User.objects.create(
        username="helpdesk.heidi", upn="heidi@contoso.example", role=Role.HELPDESK
    )
    person = [
        reverse("portal:home"),
        reverse("restore:my-backups"),
        reverse("restore:object", args=[mail.object.pk]),
        reverse("restore:point", args=[mail.pk]) + f"?folder={inbox.pk}",
        reverse("restore:point", args=[drive.pk]),
        reverse("restore:item", args=[item.pk]),
        reverse("restore:search") + "?q=budget",
        reverse("restore:deleted", args=[mail.object.pk]),
        reverse("restore:basket"),
        reverse("restore:jobs"),
        reverse("restore:job", args=[job.pk]),
        reverse("authflow:profile"),
    ]
    console = [
        reverse("console:logged-in-users"),
        reverse("console:people"),
        reverse("console:audit"),
        reverse("console:restore-scopes"),
        reverse("console:backup-store"),
        reverse("console:workers"),
    ]
    return {"alice": (alice, person), "admin": (admin, console),
            "helpdesk": (helpdesk, [reverse("helpdesk:home")])}  # fmt: skip


@pytest.mark.parametrize("journey", ["alice", "admin", "helpdesk"])
def test_every_page_fits_a_phone_and_has_no_serious_accessibility_violation(
    journeys, page_as, journey
):
    who, urls = journeys[journey]
    page = page_as(who)
    page.set_viewport_size(PHONE)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    axe = Axe()
    problems: list[str] = []
    for url in urls:
        answer = page.goto(url)
        assert answer is not None, url
        assert answer.status == 200, url
        name = url.strip("/").replace("/", "_").replace("?", "_") or "home"
        page.screenshot(path=str(ARTIFACTS / f"{journey}-{name}.png"), full_page=True)
        wide = page.evaluate("document.documentElement.scrollWidth")
        if wide > PHONE["width"]:
            problems.append(f"{url}: the page is {wide} px wide at 390 px")
        results = axe.run(page).response
        for violation in results["violations"]:
            if violation["impact"] in SERIOUS:
                targets = [n["target"] for n in violation["nodes"]][:3]
                problems.append(f"{url}: {violation['id']} ({violation['impact']}) at {targets}")
    assert not problems, "\n".join(problems)
