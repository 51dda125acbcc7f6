"""Scope from Microsoft 365 (the sandbox tenant): group membership read with the person's
delegated token, and restore-operator grants made on the admin page, resolved in Graph."""

from __future__ import annotations

import pytest
from django.urls import reverse

from authflow.models import Role, SignIn
from portal.models import AuditEvent
from restore.models import EntityKind, OperatorScope, Workload
from tests.restore import factories as f

pytestmark = pytest.mark.django_db(transaction=True)


def _group_drive(name: str):
    from sandbox.models import Group

    group = Group.objects.get(display_name=name)
    return f.protected_object(
        workload=Workload.ONEDRIVE, owner_id=group.id, entity=EntityKind.GROUP, name=name
    )


def test_members_see_their_groups_backups_and_others_do_not(client, sandbox, sign_in_with_code):
    dev_team = _group_drive("Dev/Team/1")  # owners carol, erin; members carol, dave, erin
    finance = _group_drive("Finance")  # members alice, bob, frank
    dave = sign_in_with_code("dave")
    assert dave.status == SignIn.Status.COMPLETED, dave.message
    client.force_login(dave.result_user)
    html = client.get(reverse("restore:my-backups")).content.decode()
    assert f"/backups/objects/{dev_team.pk}/" in html
    assert f"/backups/objects/{finance.pk}/" not in html
    assert 'data-testid="scope-notes"' not in html  # Graph answered

    alice = sign_in_with_code("alice")
    client.force_login(alice.result_user)
    assert client.get(reverse("restore:object", args=[dev_team.pk])).status_code == 404
    assert client.get(reverse("restore:object", args=[finance.pk])).status_code == 200


def test_admin_grants_and_removes_a_restore_operator_scope(client, sandbox):
    admin = f.user("ivan", oid=sandbox.user("ivan").id, role=Role.ADMIN)
    heidi = f.user("heidi", oid=sandbox.user("heidi").id)
    alice_box = f.mailbox(f.user("alice", oid=sandbox.user("alice").id))
    frank_box = f.mailbox(f.user("frank", oid=sandbox.user("frank").id))
    alice_url = reverse("restore:object", args=[alice_box["object"].pk])
    frank_url = reverse("restore:object", args=[frank_box["object"].pk])

    client.force_login(heidi)
    assert client.get(alice_url).status_code == 404  # her restore session exists now

    client.force_login(admin)
    add = reverse("console:restore-scope-add")
    response = client.post(
        add, {"grantee": "heidi@contoso.example", "principal": "alice@contoso.example"}
    )
    assert response.status_code == 302
    grant = OperatorScope.objects.get()
    assert grant.grantee_user == heidi
    assert str(grant.principal_id) == str(sandbox.user("alice").id)
    assert AuditEvent.objects.filter(action="restore_scope.granted").count() == 1
    assert "alice@contoso.example" in client.get(reverse("console:restore-scopes")).content.decode()

    client.force_login(heidi)
    assert client.get(alice_url).status_code == 200  # at once: her session was expired
    assert client.get(frank_url).status_code == 404

    # A group as principal: its members' backups (from Graph, application permission).
    client.force_login(admin)
    client.post(add, {"grantee": "heidi@contoso.example", "principal": "Finance"})
    client.force_login(heidi)
    assert client.get(frank_url).status_code == 200

    client.force_login(admin)
    for grant in OperatorScope.objects.all():
        client.post(reverse("console:restore-scope-delete", args=[grant.pk]))
    assert AuditEvent.objects.filter(action="restore_scope.removed").count() == 2
    client.force_login(heidi)
    assert client.get(alice_url).status_code == 404
    assert client.get(frank_url).status_code == 404


def test_unknown_principals_are_refused_and_nothing_is_written(client, sandbox):
    admin = f.user("ivan", oid=sandbox.user("ivan").id, role=Role.ADMIN)
    client.force_login(admin)
    response = client.post(
        reverse("console:restore-scope-add"),
        {"grantee": "heidi@contoso.example", "principal": "nobody@contoso.example"},
        follow=True,
    )
    assert "There is no user nobody@contoso.example" in response.content.decode()
    assert not OperatorScope.objects.exists()
