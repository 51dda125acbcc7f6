"""To Do restores into the sandbox's Microsoft 365, read back from it: a deleted task with
its checklist, linked resource and attachment; a new list; markers and collisions; bad
input; downloads as VTODO and JSON."""

from __future__ import annotations

import json

import icalendar
import pytest

from restore.catalog import exports
from restore.jobs import lifecycle as jobs
from restore.jobs import plan as dry_run
from restore.jobs import runner
from restore.jobs.restorers import Action
from restore.models import Item, RestoreJob, RestoreJobItem
from restore.scope import Scope
from sandbox import demo, todo_content
from tests.conftest import wait_for
from tests.restore.jobs_support import back_up_tasks

pytestmark = pytest.mark.django_db(transaction=True)


def run_to_end(job: RestoreJob) -> RestoreJob:
    runner.run(job.pk)
    wait_for(lambda: RestoreJob.objects.get(pk=job.pk).is_finished, timeout=30)
    job.refresh_from_db()
    return job


def log_of(job: RestoreJob) -> list[str]:
    return list(job.log.values_list("message", flat=True))


def restored(job: RestoreJob):
    from sandbox.models import TodoTask

    return [
        t
        for t in TodoTask.objects.all()
        if any(str(e.get("marker", "")).startswith(f"{job.pk}:") for e in t.extensions)
    ]


def test_a_deleted_task_comes_back_with_its_checklist_and_attachment(sandbox, alice):
    point = back_up_tasks("alice")
    item = Item.objects.get(object=point.object, name=todo_content.REPORT)
    demo.apply_demo_changes()  # Alice deletes it

    job = run_to_end(
        jobs.create_job(Scope.for_user(alice), point.pk, [item.pk], [], "original", "", "skip")
    )
    (back,) = restored(job)

    assert job.status == RestoreJob.Status.COMPLETED, log_of(job)
    assert job.items_verified == 1
    assert back.task_list.display_name == "Q3"
    assert back.data["title"] == todo_content.REPORT
    assert (back.data["importance"], back.data["status"]) == ("high", "inProgress")
    assert back.data["dueDateTime"]["timeZone"] == "W. Europe Standard Time"
    assert back.data["isReminderOn"] is True
    assert [(c.display_name, c.is_checked) for c in back.checklist.order_by("created_at")] == [
        ("Collect revenue figures", True),
        ("Draft the narrative", False),
        ("Send to Carol for review", False),
    ]
    assert [r.data["webUrl"] for r in back.linked.all()] == ["https://contoso.example/finance/q3"]
    assert [(a.name, bytes(a.data)) for a in back.attachments.all()] == [
        ("Outline.txt", todo_content.OUTLINE)
    ]
    assert back.extensions[0]["marker"] == f"{job.pk}:{item.pk}"
    # Restored again: the marker finds it, nothing is added twice.
    again = run_to_end(
        jobs.create_job(Scope.for_user(alice), point.pk, [item.pk], [], "original", "", "skip")
    )
    assert again.items_skipped == 1, log_of(again)
    assert restored(again) == []


def test_a_new_list_and_keep_both(sandbox, alice):
    from sandbox.models import TodoTask

    point = back_up_tasks("alice")
    items = list(Item.objects.filter(object=point.object, folder__name="Q3"))
    scope = Scope.for_user(alice)

    planned = dry_run.plan(scope, point.pk, [i.pk for i in items], [], "original", "", "skip")
    new_list = run_to_end(
        jobs.create_job(scope, point.pk, [i.pk for i in items], [], "folder", "", "skip")
    )
    both = run_to_end(
        jobs.create_job(scope, point.pk, [items[0].pk], [], "original", "", "keep-both")
    )

    assert {s.action for s in planned.items} == {Action.SKIP}
    assert new_list.status == RestoreJob.Status.COMPLETED, log_of(new_list)
    assert {t.task_list.display_name for t in restored(new_list)} == {new_list.target_name}
    assert new_list.target_name.startswith("Restored tasks ")
    assert new_list.items_done == 3
    assert both.items_done == 1
    assert (
        TodoTask.objects.filter(task_list__display_name="Q3", data__title=items[0].name).count()
        == 2
    )


def test_bad_tasks_fail_with_a_precise_message_and_the_rest_is_restored(sandbox, alice):
    from sandbox.graph import todo
    from sandbox.models import TodoTask

    long_body = "Long notes. " * 834  # 10,008 characters
    report = TodoTask.objects.get(data__title=todo_content.REPORT)
    report.data = {**report.data, "body": {"contentType": "text", "content": long_body}}
    report.save()
    weekly = TodoTask.objects.get(data__title="Review vendor contracts")
    todo.attach(weekly, "Scan.pdf", "application/pdf", b"%PDF" + b"0" * (26 * 1024 * 1024))
    big = 3 * 1024 * 1024 + 100  # over the inline limit: an upload session
    todo.attach(report, "Slides.pptx", "application/octet-stream", b"s" * big)
    point = back_up_tasks("alice")
    items = list(Item.objects.filter(object=point.object, folder__name="Q3"))

    job = run_to_end(
        jobs.create_job(
            Scope.for_user(alice), point.pk, [i.pk for i in items], [], "folder", "", "skip"
        )
    )
    back = {t.data["title"]: t for t in restored(job)}
    errors = dict(
        RestoreJobItem.objects.filter(job=job, status="failed").values_list("item__name", "error")
    )

    assert job.status == RestoreJob.Status.PARTIAL, log_of(job)
    assert set(back) == {todo_content.REPORT, "Send the budget to Carol"}
    assert "“Scan.pdf” (26.0 MB) is over the 25 MB" in errors["Review vendor contracts"]
    assert back[todo_content.REPORT].data["body"]["content"] == long_body
    assert sorted((a.name, a.size) for a in back[todo_content.REPORT].attachments.all()) == [
        ("Outline.txt", len(todo_content.OUTLINE)),
        ("Slides.pptx", big),
    ]


def test_downloads_as_vtodo_and_json(sandbox):
    point = back_up_tasks("alice")
    item = Item.objects.get(object=point.object, name=todo_content.REPORT)

    calendar = icalendar.Calendar.from_ical(exports.vtodo([item]))
    (task,) = calendar.walk("VTODO")
    data = json.loads(exports.task_json([item]))

    assert str(task["summary"]) == todo_content.REPORT
    assert str(task["status"]) == "IN-PROCESS"
    assert str(task.decoded("DUE").tzinfo) == "Europe/Berlin"
    assert "[x] Collect revenue figures" in str(task["description"])
    assert len(calendar.walk("VALARM")) == 1
    assert data["title"] == todo_content.REPORT
    assert data["checklistItems"][0]["displayName"] == "Collect revenue figures"
    assert data["attachments"] == [
        {"name": "Outline.txt", "contentType": "text/plain", "size": len(todo_content.OUTLINE)}
    ]


def test_an_answer_lost_mid_task_is_retried_without_a_duplicate(sandbox, alice):
    from sandbox.models import TodoTask

    point = back_up_tasks("alice")
    item = Item.objects.get(object=point.object, name=todo_content.REPORT)
    TodoTask.objects.filter(id=item.graph_id).delete()
    # The attachment is added, then the connection is reset: the answer never arrives.
    reset = sandbox.fault("/attachments", method="POST", action="reset", remaining=1)

    job = run_to_end(
        jobs.create_job(Scope.for_user(alice), point.pk, [item.pk], [], "original", "", "skip")
    )
    copies = TodoTask.objects.filter(data__title=todo_content.REPORT)

    assert job.status == RestoreJob.Status.COMPLETED, log_of(job)
    assert copies.count() == 1
    assert [a.name for a in copies.get().attachments.all()] == ["Outline.txt"]
    assert copies.get().checklist.count() == 3
    assert copies.get().extensions[0]["marker"] == f"{job.pk}:{item.pk}"
    reset.refresh_from_db()
    assert reset.remaining == 0
