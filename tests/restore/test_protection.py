"""What to protect: everyone or selected users and groups (members expanded), exclusions
win, applied by the next discovery; excluded objects are neither backed up nor
restorable, and that is audited."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from authflow.models import Role, Tenant
from portal.models import AuditEvent
from restore.backup import discovery
from restore.backup.tasks import objects_due
from restore.models import ProtectedObject
from restore.scope import resolve_object_ids
from sandbox import constants
from tests.restore import factories as f

pytestmark = pytest.mark.django_db(transaction=True)

CONTOSO = uuid.UUID(constants.TENANT_ID)


@pytest.fixture
def admin_client(sandbox) -> Client:
    Tenant.objects.create(tenant_id=CONTOSO, domains=["contoso.example"], status="active")
    client = Client()
    client.force_login(f.user("ivan", role=Role.ADMIN))
    return client


def protect(client: Client, sandbox, mode: str, include=(), exclude=()):
    def ids(names):
        found = []
        for name in names:
            if "@" in name:
                found.append(str(sandbox.user(name.split("@")[0]).id))
            else:
                from sandbox.models import Group

                found.append(str(Group.objects.get(display_name=name).id))
        return found

    return client.post(
        reverse("console:tenant-protect", args=[CONTOSO]),
        {"mode": mode, "include": ids(include), "exclude": ids(exclude)},
        follow=True,
    )


def mail_owners() -> set[str]:
    return set(
        ProtectedObject.objects.filter(
            tenant_id=CONTOSO, workload="mail", excluded=False
        ).values_list("address", flat=True)
    )


def test_the_chooser_lists_users_with_their_mailbox_and_groups(admin_client):
    html = admin_client.get(reverse("console:tenant-protect", args=[CONTOSO])).content.decode()
    assert "alice@contoso.example" in html
    assert "Dev/Team/1" in html
    assert "group (team site and drive)" in html


def test_selected_groups_expand_to_members_and_exclusions_win(admin_client, sandbox):
    response = protect(admin_client, sandbox, "selected", ["Dev/Team/1"], ["erin@contoso.example"])
    assert "Saved: the next discovery applies it." in response.content.decode()
    discovery.discover(constants.TENANT_ID)
    assert mail_owners() == {"carol@contoso.example", "dave@contoso.example"}
    group_drives = ProtectedObject.objects.filter(tenant_id=CONTOSO, entity="group")
    assert set(group_drives.values_list("name", flat=True)) == {"Dev/Team/1"}
    event = AuditEvent.objects.get(action="tenant.protection")
    assert event.details == {
        "mode": "selected",
        "include": ["Dev/Team/1"],
        "exclude": [sandbox.user("erin").display_name],
    }


def test_an_exclusion_applies_to_objects_already_backed_up(admin_client, sandbox):
    discovery.discover(constants.TENANT_ID)
    assert "erin@contoso.example" in mail_owners()
    erin_mail = ProtectedObject.objects.get(workload="mail", address="erin@contoso.example")

    protect(admin_client, sandbox, "all", exclude=["erin@contoso.example"])
    discovery.discover(constants.TENANT_ID)

    erin_mail.refresh_from_db()
    assert erin_mail.excluded
    assert not erin_mail.enabled
    assert not objects_due().filter(pk=erin_mail.pk).exists()
    erin = f.user("erin", oid=sandbox.user("erin").id)
    object_ids, _ = resolve_object_ids(erin, [])
    assert erin_mail.pk not in object_ids
    applied = AuditEvent.objects.get(action="protection.applied")
    assert "Mailbox of Erin" in " ".join(applied.details["excluded"])

    protect(admin_client, sandbox, "all")  # the exclusion is lifted
    discovery.discover(constants.TENANT_ID)
    erin_mail.refresh_from_db()
    assert not erin_mail.excluded
    assert erin_mail.enabled


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"mode": "selected"}, "Select at least one user or group"),
        ({"mode": "everything"}, "Choose to protect everyone"),
        ({"mode": "all", "exclude": [str(uuid.uuid4())]}, "are no user or group of"),
    ],
)
def test_bad_choices_are_refused_and_nothing_is_saved(admin_client, form, message):
    response = admin_client.post(
        reverse("console:tenant-protect", args=[CONTOSO]), form, follow=True
    )
    assert message in response.content.decode()
    assert Tenant.objects.get(tenant_id=CONTOSO).protection == {}
    assert not AuditEvent.objects.filter(action="tenant.protection").exists()
