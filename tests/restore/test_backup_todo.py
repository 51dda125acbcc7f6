"""To Do backups against the sandbox tenant: lists, tasks with their dates and time zones,
recurrence, checklist, linked resources and attachments; the same catalog read with the
app's Tasks.Read.All or with the person's own delegated token; the demo's deleted task."""

from __future__ import annotations

import json
from typing import Any

import pytest

from authflow import tokens
from restore.backup import runner
from restore.backup.base import Context, ItemSeen
from restore.blobs import blob_store
from restore.models import Folder, Item, RestorePoint, valid_at
from restore.workloads import info
from sandbox import demo, todo_content
from tests.restore.jobs_support import back_up_tasks

pytestmark = pytest.mark.django_db(transaction=True)


def items_at(point: RestorePoint):
    return Item.objects.filter(valid_at(point.seq), object=point.object)


def test_lists_tasks_and_their_parts_are_backed_up(sandbox):
    point = back_up_tasks("alice")
    lists = dict(Folder.objects.filter(object=point.object).values_list("name", "well_known"))
    report = items_at(point).get(name=todo_content.REPORT)
    weekly = items_at(point).get(name="Review vendor contracts")
    with blob_store().open(report.content_sha256) as blob:
        saved = json.loads(blob.read())

    assert lists == {"Tasks": "tasks", "Q3": ""}
    assert items_at(point).count() == 4
    assert report.kind == Item.Kind.TASK
    assert (report.sender, report.meta["importance"]) == ("In progress", "high")
    assert report.meta["dueDateTime"]["timeZone"] == "W. Europe Standard Time"
    assert report.meta["reminderDateTime"]["dateTime"].startswith("20")
    assert [c["displayName"] for c in saved["checklistItems"]] == [
        "Collect revenue figures", "Draft the narrative", "Send to Carol for review",
    ]  # fmt: skip
    assert saved["linkedResources"][0]["webUrl"] == "https://contoso.example/finance/q3"
    assert "Draft the narrative" in report.body_text
    assert "Numbers from finance first" in report.body_text
    with blob_store().open(report.meta["attachments"][0]["blob"]) as blob:
        assert blob.read() == todo_content.OUTLINE
    assert weekly.meta["recurrence"]["pattern"]["daysOfWeek"] == ["friday"]


def test_a_delegated_token_reads_the_same_catalog_as_the_app(sandbox, alice):
    point = back_up_tasks("alice")
    # The person's own token, as a delegated backup would use it (Tasks.ReadWrite is what
    # the sandbox's admin consented; Tasks.Read would do for reading).
    context = Context(
        object=point.object,
        graph=tokens.graph_as(alice, ["Tasks.ReadWrite"]),
        store=blob_store(),
        previous_delta_state={},
        current_folders={},
        current_items={},
    )
    reader = runner.reader_for(point.object.workload)
    seen = {
        (c.graph_id, c.folder_graph_id, c.fields["name"], c.fields["content_sha256"], c.version)
        for c in reader(context)
        if isinstance(c, ItemSeen)
    }
    catalog = {
        (i.graph_id, i.folder.graph_id, i.name, i.content_sha256, i.meta["backup_version"])
        for i in items_at(point).select_related("folder")
    }

    assert info(point.object.workload).reader == "restore.backup.todo.read"
    assert seen == catalog
    assert len(seen) == 4


def test_the_second_point_has_the_deleted_task_removed_and_nothing_read_again(sandbox):
    first = back_up_tasks("alice")
    demo.apply_demo_changes()
    second = runner.run(first.object).point

    assert second.status == RestorePoint.Status.SUCCEEDED, second.error
    assert (second.items_added, second.items_changed, second.items_removed) == (0, 0, 1)
    assert not items_at(second).filter(name=todo_content.REPORT).exists()
    assert items_at(first).filter(name=todo_content.REPORT).exists()


def test_lists_task_preview_search_and_downloads_as_people_see_them(sandbox, alice):
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(alice)
    point = back_up_tasks("alice")
    report = items_at(point).get(name=todo_content.REPORT)
    listing = client.get(
        reverse("restore:point", args=[point.pk]), {"folder": report.folder_id}
    ).content.decode()
    page = client.get(reverse("restore:item", args=[report.pk])).content.decode()
    found = client.get(reverse("restore:search"), {"q": "narrative"}).content.decode()
    ics: Any = client.get(reverse("restore:item-download", args=[report.pk]))
    as_json: Any = client.get(reverse("restore:item-download", args=[report.pk]), {"as": "json"})

    assert "Review vendor contracts" in listing
    assert "Status" in listing
    assert "In progress, high importance" in page
    assert "W. Europe Standard Time" in page
    assert "☑ Collect revenue figures" in page
    assert "Q3 figures" in page
    assert "Outline.txt" in page
    assert todo_content.REPORT in found
    assert ics["Content-Type"].startswith("text/calendar")
    assert b"BEGIN:VTODO" in b"".join(ics.streaming_content)
    assert as_json["Content-Type"] == "application/json"
    assert json.loads(b"".join(as_json.streaming_content))["title"] == todo_content.REPORT
