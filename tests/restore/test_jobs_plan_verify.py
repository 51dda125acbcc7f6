"""Dry runs and verification (issue 16, ★5 and ★6), against the sandbox over HTTP.

A dry run's plan must be what the run then does, item by item; a restored item is read
back and counted verified, and one the sandbox spoils after answering (its `corrupt`
fault) is reported, not passed.
"""

from __future__ import annotations

import pytest

from restore.jobs import lifecycle as jobs
from restore.jobs import plan as dry_run
from restore.models import Item, RestoreJob, RestoreJobItem
from restore.scope import Scope
from tests.restore.jobs_support import back_up_drive, back_up_mailbox
from tests.restore.test_jobs import budget_item, run_to_end

pytestmark = pytest.mark.django_db(transaction=True)

# What each planned action becomes in the run.
RUN_STATUS = {
    "restore": RestoreJobItem.Status.DONE,
    "keep-both": RestoreJobItem.Status.DONE,
    "overwrite": RestoreJobItem.Status.DONE,
    "skip": RestoreJobItem.Status.SKIPPED,
    "cannot": RestoreJobItem.Status.FAILED,
}


def _sandbox_counts() -> tuple[int, int, int]:
    from sandbox.models import DriveItem, MailFolder, Message

    return Message.objects.count(), MailFolder.objects.count(), DriveItem.objects.count()


def _plan_then_run(scope, point, item_ids, target, name, collision):
    before, jobs_before = _sandbox_counts(), RestoreJob.objects.count()
    plan = dry_run.plan(scope, point, item_ids, [], target, name, collision)
    assert _sandbox_counts() == before, "a dry run wrote into Microsoft 365"
    assert RestoreJob.objects.count() == jobs_before, "a dry run made a job"
    job = run_to_end(jobs.create_job(scope, point, item_ids, [], target, name, collision))
    results = {ji.item_id: ji for ji in RestoreJobItem.objects.filter(job=job)}
    for planned in plan.items:
        got = results[planned.item_id]
        assert got.status == RUN_STATUS[planned.action], (planned, got.status, got.error)
    return plan, job, results


def test_a_mail_plan_is_what_the_run_then_does_item_by_item(sandbox, alice):
    from sandbox.models import Message

    point = back_up_mailbox("alice")
    scope = Scope.for_user(alice)
    budget = budget_item(point)
    Message.objects.filter(id=budget.graph_id).delete()
    others = list(
        Item.objects.filter(object=point.object, folder__path="Inbox").exclude(pk=budget.pk)[:2]
    )
    chosen = [budget.pk, *(i.pk for i in others)]
    jobs_before = RestoreJob.objects.count()
    plan = dry_run.plan(scope, point, chosen, [], "original", "", "skip")
    assert RestoreJob.objects.count() == jobs_before
    by_item = {p.item_id: p for p in plan.items}
    assert by_item[budget.pk].action == "restore"
    assert {by_item[i.pk].action for i in others} == {"skip"}
    assert plan.totals == {"restore": 1, "skip": 2, "keep-both": 0, "overwrite": 0, "cannot": 0}

    _plan_then_run(scope, point, chosen, "original", "", "skip")
    both, job, _ = _plan_then_run(scope, point, chosen, "original", "", "keep-both")
    assert {p.action for p in both.items} == {"keep-both"}
    assert job.items_done == 3

    # A new folder that does not exist yet: planned as "created", not made by the plan.
    folder, job, _ = _plan_then_run(scope, point, chosen, "folder", "Plan check", "skip")
    assert {p.action for p in folder.items} == {"restore"}
    assert (job.items_done, job.items_verified) == (3, 3), list(
        RestoreJobItem.objects.filter(job=job).values_list("verification_note", flat=True)
    )


def test_a_drive_plan_names_kept_copies_as_the_run_then_does(sandbox, alice):
    from sandbox.models import DriveItem

    point = back_up_drive("alice")
    scope = Scope.for_user(alice)
    files = list(Item.objects.filter(object=point.object).select_related("folder")[:3])
    DriveItem.objects.filter(id=files[0].graph_id).delete()
    chosen = [f.pk for f in files]

    skip, _, _ = _plan_then_run(scope, point, chosen, "original", "", "skip")
    by_item = {p.item_id: p for p in skip.items}
    assert by_item[files[0].pk].action == "restore"
    assert by_item[files[1].pk].action == "skip"
    assert "the same content" in by_item[files[1].pk].detail

    both, _, results = _plan_then_run(scope, point, chosen, "original", "", "keep-both")
    for planned in both.items:
        assert planned.action == "keep-both"
        landed = DriveItem.objects.get(id=results[planned.item_id].result_graph_id)
        assert landed.name == planned.restored_as, planned
        assert landed.name != planned.name

    over, job, results = _plan_then_run(scope, point, chosen, "original", "", "overwrite")
    assert {p.action for p in over.items} == {"overwrite"}
    assert job.items_verified == 3


def test_a_plan_over_the_drive_quota_says_which_items_cannot_go(sandbox, alice):
    from sandbox.graph import drive as sandbox_drive
    from sandbox.models import DirectoryUser

    point = back_up_drive("alice")
    scope = Scope.for_user(alice)
    owner = DirectoryUser.objects.get(user_principal_name__startswith="alice@")
    free = sandbox_drive.drive_json(owner.drive)["quota"]["remaining"]
    files = list(Item.objects.filter(object=point.object).order_by("id")[:2])
    Item.objects.filter(pk=files[1].pk).update(size=free)  # the second would not fit
    plan = dry_run.plan(scope, point, [f.pk for f in files], [], "folder", "Q", "skip")
    assert [p.action for p in plan.items] == ["restore", "cannot"]
    assert "quota" in plan.items[1].detail


def test_restored_items_are_read_back_and_counted_verified(sandbox, alice):
    from sandbox.models import Message

    point = back_up_mailbox("alice")
    item = budget_item(point)
    Message.objects.filter(id=item.graph_id).delete()
    job = run_to_end(
        jobs.create_job(Scope.for_user(alice), point, [item.pk], [], "original", "", "skip")
    )
    assert (job.status, job.items_done, job.items_verified, job.items_unverified) == (
        "completed",
        1,
        1,
        0,
    )
    assert RestoreJobItem.objects.get(job=job).verification == "verified"
    assert "1 restored, 1 verified" in job.log.last().message


def test_a_message_spoiled_after_writing_is_reported_not_passed(sandbox, alice):
    from sandbox.models import Fault

    point = back_up_mailbox("alice")
    items = list(Item.objects.filter(object=point.object, folder__path="Inbox")[:3])
    Fault.objects.create(path_contains="/messages", method="POST", action="corrupt", status=200)
    job = run_to_end(
        jobs.create_job(
            Scope.for_user(alice), point, [i.pk for i in items], [], "folder", "Check", "skip"
        )
    )
    assert (job.items_done, job.items_verified, job.items_unverified) == (3, 2, 1)
    assert job.status == RestoreJob.Status.PARTIAL
    spoiled = RestoreJobItem.objects.get(job=job, verification="mismatch")
    assert "subject" in spoiled.verification_note
    errors = list(job.log.filter(level="error").values_list("message", flat=True))
    assert any("not verified" in m and spoiled.item.name in m for m in errors), errors
    assert "1 restored item did not verify" in job.log.last().message


def test_a_file_spoiled_after_writing_fails_its_hash_check(sandbox, alice):
    from sandbox.models import Fault

    point = back_up_drive("alice")
    files = list(Item.objects.filter(object=point.object).exclude(size=0)[:3])
    Fault.objects.create(path_contains="/content", method="PUT", action="corrupt", status=200)
    job = run_to_end(
        jobs.create_job(
            Scope.for_user(alice), point, [f.pk for f in files], [], "folder", "Check", "skip"
        )
    )
    assert (job.items_done, job.items_verified, job.items_unverified) == (3, 2, 1)
    spoiled = RestoreJobItem.objects.get(job=job, verification="mismatch")
    assert "quickXorHash" in spoiled.verification_note
