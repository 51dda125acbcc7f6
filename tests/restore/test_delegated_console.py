"""What admins and the helpdesk see of backups that run as a person: "Sign in before
backups" (scoped by tenant, 404 outside it, one action starting one sign-in per person),
the logged-in users page naming the backups read with each token, and the tenant's
backup account (command and console)."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from authflow.models import Role, SignIn, Tenant
from portal.models import AuditEvent
from restore.backup import discovery, runner
from restore.models import EntityKind, ProtectedObject, RestorePoint
from tests.restore import factories as f
from tests.restore.jobs_support import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def two_tenants(db):
    Tenant.objects.create(tenant_id=f.CONTOSO, domains=["contoso.example"], status="active")
    Tenant.objects.create(tenant_id=f.FABRIKAM, domains=["fabrikam.example"], status="active")


@pytest.fixture
def groups(two_tenants):
    """A group calendar in each tenant; Contoso's last read as Bob, Fabrikam's waiting."""
    bob = f.user("bob")
    finance = f.protected_object(
        workload="calendar", entity=EntityKind.GROUP, owner_id=f.CONTOSO, name="Finance"
    )
    point = f.point(finance, 1)
    RestorePoint.objects.filter(pk=point.pk).update(
        token_kind="delegated", token_user=bob, token_upn=bob.upn
    )
    sales = f.protected_object(
        workload="calendar",
        entity=EntityKind.GROUP,
        owner_id=f.FABRIKAM,
        tenant=f.FABRIKAM,
        name="Sales",
    )
    RestorePoint.objects.create(
        object=sales, seq=1, status="waiting", error="Waiting for sign-in: Please do it …"
    )
    mail = f.protected_object(bob)  # application permissions: not listed
    return {"finance": finance, "sales": sales, "mail": mail, "bob": bob}


def test_the_page_lists_only_objects_needing_a_person_in_the_helpdesk_persons_tenant(groups):
    heidi = f.user("heidi", role=Role.HELPDESK)
    page = as_user(heidi).get(reverse("console:delegated-backups")).content.decode()

    assert "Calendar of Finance" in page
    assert "delegated as bob@contoso.example" in page
    assert "needs a sign-in" in page  # Bob holds no token
    assert "Sales" not in page  # Fabrikam's
    assert "Mailbox of Bob" not in page  # read with application permissions
    everywhere = f.user("root", role=Role.ADMIN)
    assert (
        "waiting for sign-in"
        in as_user(everywhere).get(reverse("console:delegated-backups")).content.decode()
    )


def test_another_tenants_object_is_404_and_starts_nothing(groups):
    heidi = f.user("heidi", role=Role.HELPDESK)
    url = reverse("console:delegated-backup-start", args=[groups["sales"].pk])
    assert as_user(heidi).post(url).status_code == 404
    mail = reverse("console:delegated-backup-start", args=[groups["mail"].pk])
    assert as_user(heidi).post(mail).status_code == 404  # needs no person
    assert not SignIn.objects.exists()
    assert as_user(f.user("alice")).get(reverse("console:delegated-backups")).status_code == 403


def test_one_action_starts_one_sign_in_per_owner_and_the_logged_in_page_names_the_backups(
    sandbox,
):
    discovery.discover(sandbox.tenant_id)
    ProtectedObject.objects.exclude(entity=EntityKind.GROUP, workload="calendar").update(
        enabled=False
    )
    admin = f.user("root", role=Role.ADMIN)
    client = as_user(admin)
    response = client.post(reverse("console:delegated-backups-start"), follow=True)
    owners = {"bob@contoso.example", "carol@contoso.example", "erin@contoso.example"}

    pending = SignIn.objects.filter(status=SignIn.Status.PENDING)
    assert owners <= set(pending.values_list("expected_label", flat=True))
    assert pending.count() == len(set(pending.values_list("expected_identity", flat=True)))
    assert f"code {pending.get(expected_label='bob@contoso.example').user_code}" in (
        response.content.decode()
    )
    again = client.post(reverse("console:delegated-backups-start"))
    assert again.status_code == 302
    assert SignIn.objects.filter(status=SignIn.Status.PENDING).count() == pending.count()

    bob = sign_in(sandbox, "bob")
    finance = ProtectedObject.objects.get(workload="calendar", entity="group", name="Finance")
    assert runner.run(finance).point.token_user == bob
    users = client.get(reverse("console:logged-in-users")).content.decode()
    assert "Calendar of Finance" in users
    assert "Revoking Bob" in users


def test_the_backup_account_is_set_by_command_checked_with_graph_and_audited(sandbox):
    tenant = Tenant.objects.create(
        tenant_id=sandbox.tenant_id, domains=["contoso.example"], status="active"
    )
    out = io.StringIO()
    call_command("tenant", "backup-account", "contoso.example", "Frank@contoso.example", stdout=out)
    tenant.refresh_from_db()
    assert tenant.backup_account == "frank@contoso.example"
    assert "manage.py login frank@contoso.example" in out.getvalue()
    assert AuditEvent.objects.filter(action="tenant.backup_account").exists()

    with pytest.raises(CommandError, match=r"There is no user nobody@contoso\.example"):
        call_command("tenant", "backup-account", "contoso.example", "nobody@contoso.example")
    tenant.refresh_from_db()
    assert tenant.backup_account == "frank@contoso.example"  # unchanged

    call_command("tenant", "backup-account", "contoso.example", "--clear", stdout=out)
    tenant.refresh_from_db()
    assert tenant.backup_account == ""


def test_the_console_backup_account_form_is_404_for_another_tenant(two_tenants):
    fabrikam_admin = f.user("fadmin", tenant=f.FABRIKAM)
    from authflow.models import TenantAdmin

    TenantAdmin.objects.create(user=fabrikam_admin, tenant=Tenant.objects.get(tenant_id=f.FABRIKAM))
    url = reverse("console:tenant-backup-account", args=[f.CONTOSO])
    response = as_user(fabrikam_admin).post(url, {"backup_account": "x@contoso.example"})
    assert response.status_code == 404
    assert Tenant.objects.get(tenant_id=f.CONTOSO).backup_account == ""
