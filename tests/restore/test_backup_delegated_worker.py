"""A scheduled backup of a group's calendar on a real Celery worker: it waits for a
sign-in with the owners and the code in its log, goes on by itself once an owner signs
in, and waits again (writing nothing) when the token is revoked mid-read."""

from __future__ import annotations

import re

import pytest

from authflow import tokens
from authflow.models import SignIn, User
from restore.backup import discovery
from restore.backup.tasks import backup_due_objects
from restore.models import EntityKind, Item, ProtectedObject, RestorePoint, valid_at
from sandbox import calendar_content
from tests.conftest import wait_for
from tests.restore.jobs_support import sign_in

pytestmark = pytest.mark.django_db(transaction=True)

CODE = re.compile(r"bob@contoso\.example: open (\S+) and enter the code (\S+) ")


@pytest.fixture
def finance_calendar(sandbox) -> ProtectedObject:
    sandbox.policy(device_code_interval=1)
    discovery.discover(sandbox.tenant_id)
    obj = ProtectedObject.objects.get(
        workload="calendar", entity=EntityKind.GROUP, name="Finance", tenant_id=sandbox.tenant_id
    )
    ProtectedObject.objects.exclude(pk=obj.pk).update(enabled=False)
    return obj


def point_of(obj: ProtectedObject) -> RestorePoint:
    return RestorePoint.objects.filter(object=obj).order_by("-seq").first()


def code_in_log(obj: ProtectedObject, after: str = "") -> re.Match | None:
    point = point_of(obj)
    if point is None or point.status != RestorePoint.Status.WAITING:
        return None
    found = CODE.findall(point.log.partition(after)[2] if after else point.log)
    return found[-1] if found else None


def test_the_scheduled_backup_waits_for_an_owner_and_goes_on_after_the_sign_in(
    sandbox, finance_calendar, celery_worker
):
    assert backup_due_objects() == 1
    _, code = wait_for(lambda: code_in_log(finance_calendar), timeout=60)
    waiting = point_of(finance_calendar)

    assert "Please do it with some owner of the group Finance: bob@contoso.example." in waiting.log
    assert SignIn.objects.get(user_code=code).status == SignIn.Status.PENDING
    assert backup_due_objects() == 0  # waiting: not queued again at the next tick
    assert not Item.objects.filter(object=finance_calendar).exists()

    sandbox.approve(code, "bob")
    done = wait_for(
        lambda: RestorePoint.objects.filter(pk=waiting.pk, status="succeeded").first(),
        timeout=60,
        message="The backup never went on after Bob signed in",
    )
    bob = User.objects.get(upn="bob@contoso.example")
    assert (done.seq, done.token_kind, done.token_user) == (1, "delegated", bob)
    assert (
        Item.objects.filter(valid_at(1), object=finance_calendar)
        .filter(name=calendar_content.BUDGET_REVIEW)
        .exists()
    )


def test_revoking_the_only_token_mid_read_makes_the_run_wait_with_nothing_half_written(
    sandbox, finance_calendar, celery_worker
):
    bob = sign_in(sandbox, "bob")
    # The series' instances are read after the events list: a 429 there holds the run
    # for 3 s, mid-read, while the token is revoked.
    fault = sandbox.fault("/instances", 429, retry_after=3)
    assert backup_due_objects() == 1
    wait_for(lambda: not type(fault).objects.filter(pk=fault.pk, remaining__gt=0).exists())
    tokens.revoke(bob, by=None, reason="Revoked by the test.")

    _, code = wait_for(lambda: code_in_log(finance_calendar, after="stopped working"), timeout=60)
    point = point_of(finance_calendar)
    assert "The token of bob@contoso.example stopped working" in point.log
    assert point.status == RestorePoint.Status.WAITING
    assert not Item.objects.filter(object=finance_calendar).exists()  # nothing half-written

    sandbox.approve(code, "bob")
    done = wait_for(
        lambda: RestorePoint.objects.filter(pk=point.pk, status="succeeded").first(), timeout=60
    )
    events = Item.objects.filter(valid_at(done.seq), object=finance_calendar)
    assert sorted(events.values_list("name", flat=True)) == [
        calendar_content.BUDGET_REVIEW,
        "Quarter close",
    ]
