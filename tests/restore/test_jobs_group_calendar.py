"""Restoring a group's calendar: as the person restoring, so Microsoft 365 decides (only
its members and owners may write there); no one invited; the job says why a
non-member's restore was refused."""

from __future__ import annotations

from typing import Any

import pytest

from restore.backup import discovery, runner
from restore.jobs import lifecycle as jobs
from restore.models import EntityKind, Item, OperatorScope, ProtectedObject, RestoreJob
from restore.scope import Scope, expire_sessions
from sandbox import calendar_content
from tests.restore.jobs_support import sign_in
from tests.restore.test_jobs_calendar import log_of, restored, run_to_end

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def finance_point(sandbox):
    """Finance's group calendar, backed up as Bob (its owner)."""
    discovery.discover(sandbox.tenant_id)
    obj = ProtectedObject.objects.get(
        workload="calendar", entity=EntityKind.GROUP, name="Finance", tenant_id=sandbox.tenant_id
    )
    sign_in(sandbox, "bob")
    point = runner.run(obj).point
    assert point.status == "succeeded", point.error
    return point


def _delete_budget_review() -> None:
    from sandbox.models import Event

    Event.objects.filter(data__subject=calendar_content.BUDGET_REVIEW).delete()


def test_a_member_puts_a_deleted_series_back_into_the_group_calendar_inviting_no_one(
    sandbox, finance_point
):
    from sandbox.models import Invitation

    alice = sign_in(sandbox, "alice")  # a member of Finance
    review = Item.objects.get(object=finance_point.object, name=calendar_content.BUDGET_REVIEW)
    _delete_budget_review()
    job = jobs.create_job(
        Scope.for_user(alice), finance_point, [review.pk], [], "original", "", "skip"
    )
    job = run_to_end(job)

    assert job.status == RestoreJob.Status.COMPLETED, log_of(job)
    back = restored(job).get()
    assert back.calendar.group.display_name == "Finance"
    assert back.owner is None  # the group's event, not Alice's
    assert back.data["subject"] == calendar_content.BUDGET_REVIEW
    assert not Invitation.objects.exists()


def test_a_new_calendar_for_a_group_is_refused_and_nothing_is_created(sandbox, finance_point):
    from django.core.exceptions import ValidationError

    alice = sign_in(sandbox, "alice")
    review = Item.objects.get(object=finance_point.object, name=calendar_content.BUDGET_REVIEW)
    with pytest.raises(ValidationError, match="A group has one calendar"):
        jobs.create_job(
            Scope.for_user(alice), finance_point, [review.pk], [], "folder", "X", "skip"
        )
    assert not RestoreJob.objects.exists()


def test_a_non_member_restoring_is_refused_by_microsoft_365_and_the_job_says_why(
    sandbox, finance_point
):
    carol = sign_in(sandbox, "carol")  # not in Finance; a restore operator for it
    grant = OperatorScope.objects.create(
        tenant_id=carol.tenant_id,
        grantee_user=carol,
        grantee_name=carol.upn,
        principal_kind=OperatorScope.PrincipalKind.GROUP,
        principal_id=finance_point.object.owner_id,
        principal_name="Finance",
    )
    expire_sessions(grant)
    review = Item.objects.get(object=finance_point.object, name=calendar_content.BUDGET_REVIEW)
    _delete_budget_review()
    job = jobs.create_job(
        Scope.for_user(carol), finance_point, [review.pk], [], "original", "", "skip"
    )
    job = run_to_end(job)

    assert job.status == RestoreJob.Status.FAILED
    assert job.items_done == 0
    said = "\n".join(log_of(job))
    assert "Microsoft 365 refused (ErrorAccessDenied)" in said, said
    assert "to be a member or owner of the group Finance" in said
    assert not restored(job).exists()


def test_a_member_browses_the_group_calendar_in_the_calendar_view_and_downloads_ics(
    sandbox, finance_point
):
    import icalendar
    from django.test import Client
    from django.urls import reverse

    alice = sign_in(sandbox, "alice")
    client: Any = Client()  # its streaming responses are not in Client's types
    client.force_login(alice)
    review = Item.objects.get(object=finance_point.object, name=calendar_content.BUDGET_REVIEW)
    month = str(review.meta["start"]["dateTime"])[:7]
    url = reverse("restore:point", args=[finance_point.pk])
    page = client.get(url, {"folder": review.folder_id, "view": "month", "at": month})
    download = client.get(reverse("restore:item-download", args=[review.pk]))
    calendar: Any = icalendar.Calendar.from_ical(b"".join(download.streaming_content))
    master: Any = next(e for e in calendar.walk("VEVENT") if "RRULE" in e)

    assert page.status_code == 200
    assert calendar_content.BUDGET_REVIEW in page.content.decode()
    assert master["RRULE"]["FREQ"] == ["MONTHLY"]
    assert master["RRULE"]["COUNT"] == [12]
    carol = Client()
    carol.force_login(sign_in(sandbox, "carol"))  # not in Finance: not in her backups
    assert carol.get(reverse("restore:item", args=[review.pk])).status_code == 404
