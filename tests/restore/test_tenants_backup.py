"""Discovery and backups loop over the active tenants; their objects never mix."""

from __future__ import annotations

import io
import uuid

import pytest
from django.core.management import call_command

from authflow.models import Tenant
from restore.backup import discovery
from restore.backup.tasks import objects_due
from restore.models import ProtectedObject
from sandbox import constants
from sandbox.models import ServicePrincipal
from sandbox.seed import PORTAL_APPLICATION_ROLES

pytestmark = pytest.mark.django_db(transaction=True)

CONTOSO = uuid.UUID(constants.TENANT_ID)
FABRIKAM = uuid.UUID(constants.OTHER_TENANT_ID)


def grant_fabrikam_roles() -> None:
    """Fabrikam's admin consents to the portal's application permissions."""
    ServicePrincipal.objects.filter(
        tenant_id=FABRIKAM, application__client_id=constants.CONFIDENTIAL_CLIENT_ID
    ).update(graph_app_roles=PORTAL_APPLICATION_ROLES)


def connect(tenant_id: uuid.UUID, domain: str, status: str = "active") -> Tenant:
    return Tenant.objects.create(tenant_id=tenant_id, domains=[domain], status=status)


def test_discovery_finds_each_active_tenants_objects_under_that_tenant(sandbox):
    connect(CONTOSO, constants.TENANT_DOMAIN)
    connect(FABRIKAM, constants.OTHER_TENANT_DOMAIN)
    grant_fabrikam_roles()
    outcome = discovery.discover_all()
    assert set(outcome) == {str(CONTOSO), str(FABRIKAM)}
    fabrikam = {o.address for o in ProtectedObject.objects.filter(tenant_id=FABRIKAM)}
    contoso = {o.address for o in ProtectedObject.objects.filter(tenant_id=CONTOSO)}
    assert "mallory@fabrikam.example" in fabrikam
    assert "alice@contoso.example" in contoso
    assert all(a.endswith("@fabrikam.example") for a in fabrikam if a)
    assert not any(a.endswith("@fabrikam.example") for a in contoso)


def test_a_tenant_without_consent_fails_alone_and_a_pending_one_is_left_out(sandbox):
    connect(CONTOSO, constants.TENANT_DOMAIN)
    connect(FABRIKAM, constants.OTHER_TENANT_DOMAIN)  # no application roles granted
    outcome = discovery.discover_all()
    assert isinstance(outcome[str(FABRIKAM)], Exception)
    assert "lacks the application permission" in str(outcome[str(FABRIKAM)])
    assert ProtectedObject.objects.filter(tenant_id=CONTOSO).exists()
    assert not ProtectedObject.objects.filter(tenant_id=FABRIKAM).exists()

    Tenant.objects.filter(tenant_id=FABRIKAM).update(status="pending")
    grant_fabrikam_roles()
    assert set(discovery.discover_all()) == {str(CONTOSO)}
    ProtectedObject.objects.create(
        tenant_id=FABRIKAM, workload="mail", entity="user", owner_id=uuid.uuid4(), name="x"
    )
    assert not objects_due().filter(tenant_id=FABRIKAM).exists()
    assert objects_due().filter(tenant_id=CONTOSO).exists()


def test_backup_all_without_connected_tenants_uses_the_configured_one(sandbox, settings):
    settings.MICROSOFT_TENANT_ID = constants.TENANT_ID
    ProtectedObject.objects.all().delete()
    out = io.StringIO()
    call_command("backup", "alice@contoso.example", "--workload", "mail", stdout=out)
    assert "restore point 1" in out.getvalue()
    assert list(Tenant.objects.values_list("tenant_id", flat=True)) == [CONTOSO]


def test_a_refused_backup_re_verifies_the_tenant_and_the_console_shows_it(
    sandbox, celery_worker, client
):
    from django.urls import reverse

    from authflow.models import Role
    from restore.backup import runner
    from tests.conftest import wait_for
    from tests.restore import factories as f

    connect(CONTOSO, constants.TENANT_DOMAIN)
    discovery.discover(constants.TENANT_ID)
    mailbox = ProtectedObject.objects.get(workload="mail", owner_id=sandbox.user("alice").id)
    # Contoso's admin withdraws the consent; Graph refuses the next request.
    ServicePrincipal.objects.filter(
        tenant_id=CONTOSO, application__client_id=constants.CONFIDENTIAL_CLIENT_ID
    ).update(graph_app_roles=[])
    sandbox.fault("mailFolders", 403, remaining=50)

    outcome = runner.run(mailbox)
    assert outcome.point.status == "failed"
    tenant = wait_for(
        lambda: Tenant.objects.filter(tenant_id=CONTOSO, status="consent_missing").first(),
        timeout=60,
        message="The tenant was never verified again after Graph refused the backup",
    )
    assert "User.Read.All" in tenant.status_reason
    assert not objects_due().filter(tenant_id=CONTOSO).exists()

    client.force_login(f.user("ivan", role=Role.ADMIN))
    html = client.get(reverse("console:tenants")).content.decode()
    assert "Consent withdrawn or incomplete" in html
    assert "Discovery needs" in html


def test_two_tenants_backed_up_never_mix_in_browse_search_jobs_and_api(sandbox):
    from django.test import Client
    from django.urls import reverse

    from api import tokens as api_tokens
    from restore.backup import runner
    from restore.models import Item, RestoreJob
    from tests.restore import factories as f

    connect(CONTOSO, constants.TENANT_DOMAIN)
    connect(FABRIKAM, constants.OTHER_TENANT_DOMAIN)
    grant_fabrikam_roles()
    discovery.discover_all()
    alice_box = ProtectedObject.objects.get(workload="mail", address="alice@contoso.example")
    mallory_box = ProtectedObject.objects.get(workload="mail", address="mallory@fabrikam.example")
    for box in (alice_box, mallory_box):
        assert runner.run(box).point.status == "succeeded"
    mallory_item = Item.objects.filter(object=mallory_box).exclude(name="").first()
    mallory_job = RestoreJob.objects.create(
        user=f.user("mallory", tenant=FABRIKAM, oid=sandbox.user("mallory").id),
        object=mallory_box,
        restore_point=mallory_box.restore_points.first(),
        target="original",
    )

    alice = f.user("alice", oid=sandbox.user("alice").id)
    web = Client()
    web.force_login(alice)
    html = web.get(reverse("restore:my-backups")).content.decode()
    assert "Mallory" not in html
    item_url = reverse("restore:item", args=[mallory_item.pk])
    found = web.get(reverse("restore:search"), {"q": mallory_item.name}).content.decode()
    assert item_url not in found
    own = Client()
    own.force_login(mallory_job.user)
    assert item_url in own.get(reverse("restore:search"), {"q": mallory_item.name}).content.decode()
    for name, ref in (
        ("restore:object", mallory_box.pk),
        ("restore:item", mallory_item.pk),
        ("restore:point", mallory_box.restore_points.first().pk),
    ):
        assert web.get(reverse(name, args=[ref])).status_code == 404, name
    assert web.get(reverse("restore:job", args=[mallory_job.pk])).status_code == 404

    bearer = {"Authorization": f"Bearer {api_tokens.issue(alice, grant='operator').access_token}"}
    listed = web.get("/api/v1/objects", headers=bearer).json()
    assert {o["address"] for o in listed["items"]} <= {
        "alice@contoso.example",
        *(o.address for o in ProtectedObject.objects.filter(tenant_id=CONTOSO)),
    }
    assert "mallory@fabrikam.example" not in str(listed)
    for path in (
        f"/api/v1/objects/{mallory_box.pk}",
        f"/api/v1/items/{mallory_item.pk}",
        f"/api/v1/restore-jobs/{mallory_job.pk}",
    ):
        assert web.get(path, headers=bearer).status_code == 404, path
