"""Backups that run as a person: a group's calendar (Graph has no application permission
for it), read with the token of an owner, the tenant's backup account or a member, in
that order; with none, the run waits for a sign-in and goes on afterwards."""

from __future__ import annotations

import re

import pytest

from authflow import flows, tokens
from authflow.models import SignIn, Tenant, User
from restore.backup import delegation, discovery, runner
from restore.models import EntityKind, Item, ProtectedObject, RestorePoint, valid_at
from sandbox import calendar_content
from sandbox.models import ServicePrincipal
from tests.restore.jobs_support import back_up_tasks, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def finance_calendar(sandbox) -> ProtectedObject:
    discovery.discover(sandbox.tenant_id)
    return ProtectedObject.objects.get(
        workload="calendar", entity=EntityKind.GROUP, name="Finance", tenant_id=sandbox.tenant_id
    )


def upn(alias: str) -> str:
    return f"{alias}@contoso.example"


def test_with_no_token_the_run_waits_naming_the_owners_and_a_code_and_writes_nothing(
    sandbox, finance_calendar
):
    point = runner.run(finance_calendar).point
    sign_ins = SignIn.objects.filter(status=SignIn.Status.PENDING)

    assert point.status == RestorePoint.Status.WAITING
    assert "Please do it with some owner of the group Finance: bob@contoso.example." in point.log
    code = re.search(r"bob@contoso\.example: open (\S+) and enter the code (\S+) ", point.log)
    assert code, point.log
    assert [s.user_code for s in sign_ins] == [code[2]]
    assert sign_ins[0].expected_label == upn("bob")
    assert not Item.objects.filter(object=finance_calendar).exists()
    assert "eyJ" not in point.log
    # A second run of the same object (the beat again) reuses the point and the sign-in.
    again = runner.run(finance_calendar).point
    assert (again.pk, again.status) == (point.pk, RestorePoint.Status.WAITING)
    assert SignIn.objects.filter(status=SignIn.Status.PENDING).count() == 1


def test_a_member_stands_in_only_while_no_owner_or_backup_account_can(sandbox, finance_calendar):
    alice = sign_in(sandbox, "alice")  # a member of Finance, not an owner
    as_member = runner.run(finance_calendar).point
    items = Item.objects.filter(valid_at(as_member.seq), object=finance_calendar)
    review = items.get(name=calendar_content.BUDGET_REVIEW)

    assert as_member.status == RestorePoint.Status.SUCCEEDED, as_member.error
    assert (as_member.token_kind, as_member.token_user) == ("delegated", alice)
    assert f"delegated as {alice.upn} (a member of the group)" in as_member.log
    assert review.meta["occurrences"] == 12

    frank = sign_in(sandbox, "frank")  # another member, made the tenant's backup account
    Tenant.objects.update_or_create(
        tenant_id=sandbox.tenant_id, defaults={"backup_account": upn("frank"), "status": "active"}
    )
    assert runner.run(finance_calendar).point.token_user == frank

    bob = sign_in(sandbox, "bob")  # the owner comes first
    by_owner = runner.run(finance_calendar).point
    assert (by_owner.token_user, by_owner.status) == (bob, RestorePoint.Status.SUCCEEDED)
    assert "(an owner of the group)" in by_owner.log


def test_a_non_member_token_is_never_used(sandbox, finance_calendar):
    sign_in(sandbox, "carol")  # signed in, but not in Finance
    point = runner.run(finance_calendar).point
    assert point.status == RestorePoint.Status.WAITING
    assert point.token_user is None


def test_to_do_without_tasks_read_all_is_backed_up_as_its_owner_with_the_same_catalog(sandbox):
    """To Do's backup rule (portal.permissions): Tasks.Read.All, or the person's own
    Tasks.Read. A tenant that withdraws the app's Tasks.Read.All is read as the owner."""
    with_app = back_up_tasks("alice")
    assert with_app.token_kind == RestorePoint.TokenKind.APPLICATION
    sp = ServicePrincipal.objects.get(
        tenant_id=sandbox.tenant_id, application__client_id=sandbox.confidential_client_id
    )
    sp.graph_app_roles = [r for r in sp.graph_app_roles if r != "Tasks.Read.All"]
    sp.save()
    flows._app_only.clear()
    alice = User.objects.get(pk=sign_in(sandbox, "alice").pk)

    as_owner = runner.run(with_app.object, full=True).point  # every list read again
    assert as_owner.status == RestorePoint.Status.SUCCEEDED, as_owner.error
    assert (as_owner.token_kind, as_owner.token_user) == (RestorePoint.TokenKind.DELEGATED, alice)

    def catalog(point: RestorePoint) -> set[tuple[str, str, str]]:
        items = Item.objects.filter(valid_at(point.seq), object=point.object)
        return set(items.values_list("graph_id", "name", "content_sha256"))

    assert catalog(as_owner) == catalog(with_app)
    assert len(catalog(as_owner)) == 4
    mail = ProtectedObject(
        tenant_id=sandbox.tenant_id, workload="mail", entity=EntityKind.USER, owner_id=alice.oid
    )
    assert delegation.choose(mail).kind == "application"  # Mail.Read is still granted
    tokens.revoke(alice, by=None, reason="test")
    with pytest.raises(delegation.NeedsSignIn, match=re.escape(f"Please do it with {alice.upn}.")):
        delegation.choose(with_app.object)
