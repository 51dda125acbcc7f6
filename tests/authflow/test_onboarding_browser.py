"""Onboarding end to end in Chromium: connect Fabrikam, its admin consents at Entra (the
sandbox), Verify, choose what to protect, first backup — and only what was chosen."""

from __future__ import annotations

import io
import uuid

import pytest
from django.core.management import call_command

from authflow.models import Role, Tenant
from restore.models import ProtectedObject, RestorePoint
from sandbox import constants
from tests.restore import factories as f

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FABRIKAM = uuid.UUID(constants.OTHER_TENANT_ID)


def test_connect_consent_verify_choose_and_first_backup(sandbox, page_as, settings):
    settings.MICROSOFT_TENANT_ID = constants.TENANT_ID
    page = page_as(f.user("ivan", role=Role.ADMIN))
    page.goto("/admin/tenants/")
    page.get_by_label("Domain or tenant id").fill("fabrikam.example")
    page.get_by_role("button", name="Connect").click()
    page.get_by_text("added: its admin consents next").wait_for()
    assert page.get_by_test_id("tenant-status").inner_text() == "Waiting for admin consent"

    # Fabrikam's admin at Entra's admin consent page.
    page.get_by_test_id("consent-url").click()
    page.get_by_text("asks an administrator of").wait_for()
    assert page.locator('li[data-scope="Mail.Read"]').count() == 0  # what the app lists
    assert page.locator('li[data-scope="Mail.ReadWrite"]').count() >= 1
    page.get_by_label("Administrator account").fill("trent@fabrikam.example")
    page.get_by_label("Password").fill(sandbox.password("trent"))
    page.get_by_role("button", name="Accept").click()

    # Back in the portal: verified at once.
    page.get_by_text("Verified: every enabled workload works.").wait_for()
    assert page.get_by_test_id("tenant-status").inner_text() == "Active"
    mail = page.locator('[data-testid="check"][data-workload="mail"][data-operation="backup"]')
    assert mail.get_attribute("data-status") == "works"

    # Choose: only Mallory.
    page.get_by_test_id("choose").click()
    page.get_by_text("Trent Ross").wait_for()
    page.get_by_label("Protect only those selected").check()
    page.get_by_label("Protect Mallory Quinn").check()
    page.get_by_test_id("save-protection").click()
    page.get_by_text("Saved: the next discovery applies it.").wait_for()
    assert "Only: Mallory Quinn." in page.get_by_test_id("protection").inner_text()

    # The first backup (what beat starts): Fabrikam's chosen mailbox, Contoso's too.
    call_command("backup", "--all", "--workload", "mail", stdout=io.StringIO())
    fabrikam = ProtectedObject.objects.filter(tenant_id=FABRIKAM, workload="mail")
    assert list(fabrikam.values_list("address", flat=True)) == ["mallory@fabrikam.example"]
    point = RestorePoint.objects.get(object__in=fabrikam)
    assert point.status == "succeeded"
    assert point.items_added == 10
    contoso = RestorePoint.objects.filter(object__tenant_id=constants.TENANT_ID)
    assert contoso.filter(status="succeeded").exists()  # the first tenant goes on
    assert Tenant.objects.get(tenant_id=FABRIKAM).status == Tenant.Status.ACTIVE
