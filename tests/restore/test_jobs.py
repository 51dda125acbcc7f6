"""Restore jobs into the sandbox's Microsoft 365, read back through the sandbox's models."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.http import Http404

from portal.models import AuditEvent
from restore.jobs import lifecycle as jobs
from restore.jobs import runner
from restore.jobs.restorers.mail import MARKER_PROPERTY
from restore.models import Folder, Item, RestoreJob, RestoreJobItem
from restore.scope import Scope
from tests.conftest import wait_for
from tests.restore.jobs_support import back_up_drive, back_up_mailbox

pytestmark = pytest.mark.django_db(transaction=True)


def run_to_end(job: RestoreJob) -> RestoreJob:
    """Run the job here (a worker of the session, if any, may have claimed it first)."""
    runner.run(job.pk)
    wait_for(lambda: RestoreJob.objects.get(pk=job.pk).is_finished, timeout=30)
    job.refresh_from_db()
    return job


def restored_by_marker(job: RestoreJob):
    from sandbox.models import Message

    return Message.objects.filter(
        extended_properties__key=MARKER_PROPERTY.lower(),
        extended_properties__value__startswith=f"{job.pk}:",
    )


def budget_item(point) -> Item:
    return Item.objects.get(object=point.object, name="Q3 budget — final")


def test_a_deleted_message_comes_back_to_its_folder_not_as_a_draft_with_its_dates(sandbox, alice):
    from sandbox.models import Message

    point = back_up_mailbox("alice")
    item = budget_item(point)
    original = Message.objects.get(id=item.graph_id)
    received, sent, was_read = original.received_at, original.sent_at, original.is_read
    inbox_id = original.folder_id
    attachments = sorted(a.name for a in original.attachments.all())
    assert attachments
    original.delete()

    job = jobs.create_job(Scope.for_user(alice), point.pk, [item.pk], [], "original", "", "skip")
    job = run_to_end(job)

    assert job.status == RestoreJob.Status.COMPLETED, list(
        job.log.values_list("message", flat=True)
    )
    assert (job.items_done, job.items_total, job.bytes_done) == (1, 1, item.size)
    back = Message.objects.get(mailbox__user_principal_name__startswith="alice@", subject=item.name)
    assert back.folder_id == inbox_id
    assert back.is_draft is False
    assert back.received_at == received
    assert back.sent_at == sent
    assert back.is_read == was_read
    assert back.from_address["emailAddress"]["address"].startswith("bob@")
    assert sorted(a.name for a in back.attachments.all()) == attachments
    assert back.extended_properties.filter(value=f"{job.pk}:{item.pk}").exists()
    job_item = RestoreJobItem.objects.get(job=job)
    assert job_item.status == RestoreJobItem.Status.DONE
    assert job_item.result_graph_id == back.id
    actions = set(AuditEvent.objects.filter(target=str(job.pk)).values_list("action", flat=True))
    assert {"restore.requested", "restore.finished"} <= actions


def test_a_deleted_folder_is_recreated_at_its_path(sandbox, alice):
    from sandbox.models import MailFolder, Message

    point = back_up_mailbox("alice")
    nested = next(
        f
        for f in Folder.objects.filter(object=point.object, path__contains="/").order_by("-path")
        if Item.objects.filter(folder=f).exists()
    )
    parent_name = nested.path.split("/")[-2]
    expected = set(Item.objects.filter(folder=nested).values_list("name", flat=True))
    MailFolder.objects.filter(id=nested.graph_id).delete()

    job = jobs.create_job(Scope.for_user(alice), point, [], [nested.pk], "original", "", "skip")
    job = run_to_end(job)

    assert job.status == RestoreJob.Status.COMPLETED
    again = MailFolder.objects.get(
        mailbox__user_principal_name__startswith="alice@",
        display_name=nested.name,
        parent__display_name=parent_name,
    )
    assert again.id != nested.graph_id
    assert set(Message.objects.filter(folder=again).values_list("subject", flat=True)) == expected


def test_a_folder_tree_goes_to_a_new_folder(sandbox, alice):
    from sandbox.models import MailFolder, Message

    point = back_up_mailbox("alice")
    inbox = Folder.objects.get(object=point.object, path="Inbox")
    items = Item.objects.filter(object=point.object, folder__path__startswith="Inbox")
    job = jobs.create_job(
        Scope.for_user(alice), point, [], [inbox.pk], "folder", "Restored for test", "skip"
    )
    assert job.items_total == items.count()
    job = run_to_end(job)

    assert job.status == RestoreJob.Status.COMPLETED
    top = MailFolder.objects.get(
        display_name="Restored for test", parent__well_known_name="msgfolderroot"
    )
    copy_of_inbox = MailFolder.objects.get(parent=top, display_name="Inbox")
    projects = MailFolder.objects.get(parent=copy_of_inbox, display_name="Projects")
    assert (
        Message.objects.filter(folder=projects).count()
        == items.filter(folder__path="Inbox/Projects").count()
    )
    restored = restored_by_marker(job)
    assert restored.count() == items.count()
    assert not restored.filter(is_draft=True).exists()


def test_mail_collisions_skip_or_keep_both_and_never_overwrite(sandbox, alice):
    from sandbox.models import Message

    point = back_up_mailbox("alice")
    item = budget_item(point)
    scope = Scope.for_user(alice)
    skipped = run_to_end(jobs.create_job(scope, point, [item.pk], [], "original", "", "skip"))
    assert (skipped.status, skipped.items_skipped, skipped.items_done) == ("completed", 1, 0)
    assert Message.objects.filter(subject=item.name).count() == 1

    both = run_to_end(jobs.create_job(scope, point, [item.pk], [], "original", "", "keep-both"))
    assert (both.status, both.items_done) == ("completed", 1)
    assert Message.objects.filter(subject=item.name).count() == 2

    with pytest.raises(ValidationError, match="Overwrite is not available for mailbox items"):
        jobs.create_job(scope, point, [item.pk], [], "original", "", "overwrite")


def test_bad_selections_are_refused_with_nothing_written(sandbox, alice):
    point = back_up_mailbox("alice")
    drive_point = back_up_drive("alice")
    scope = Scope.for_user(alice)
    file_item = Item.objects.filter(object=drive_point.object).first()
    cases: list[tuple[type[Exception], dict[str, Any]]] = [
        (ValidationError, {"item_ids": [], "folder_ids": []}),
        (ValidationError, {"item_ids": ["x1"], "folder_ids": []}),
        (Http404, {"item_ids": [file_item.pk], "folder_ids": []}),  # another object's item
        (Http404, {"item_ids": [], "folder_ids": [987654]}),
        (ValidationError, {"item_ids": [budget_item(point).pk], "folder_ids": [], "target": "x"}),
        (ValidationError, {"item_ids": [budget_item(point).pk], "folder_ids": [], "target": "folder",
                               "target_name": "a/b"}),
    ]  # fmt: skip
    for error, args in cases:
        args.setdefault("target", "original")
        with pytest.raises(error):
            jobs.create_job(
                scope,
                point,
                args["item_ids"],
                args["folder_ids"],
                args["target"],
                args.get("target_name", ""),
                "skip",
            )
    assert not RestoreJob.objects.exists()


def test_files_round_trip_byte_exact_with_collision_policies(sandbox, alice):
    from sandbox.graph import drive as sandbox_drive
    from sandbox.models import DirectoryUser, DriveItem

    owner = DirectoryUser.objects.get(user_principal_name__startswith="alice@")
    root = sandbox_drive.root_of(owner.drive)
    big = bytes(range(256)) * (5 * 1024 * 1024 // 256) + b"tail"  # > 4 MB: upload session
    sandbox_drive.put_file(root, "big.bin", big, "replace", owner)
    point = back_up_drive("alice")
    scope = Scope.for_user(alice)
    files = list(Item.objects.filter(object=point.object).select_related("folder")[:3])
    big_item = Item.objects.get(object=point.object, name="big.bin")
    chosen = [*files, big_item]
    DriveItem.objects.filter(id__in=[i.graph_id for i in chosen]).delete()

    job = run_to_end(
        jobs.create_job(scope, point, [i.pk for i in chosen], [], "original", "", "skip")
    )
    assert job.status == RestoreJob.Status.COMPLETED, list(
        job.log.values_list("message", flat=True)
    )
    for item in chosen:
        back = DriveItem.objects.get(
            drive=owner.drive, name=item.name, parent_id=item.folder.graph_id, deleted_at=None
        )
        assert bytes(back.versions.order_by("-number").first().content) == _blob(item)

    skipped = run_to_end(jobs.create_job(scope, point, [big_item.pk], [], "original", "", "skip"))
    assert skipped.items_skipped == 1
    both = run_to_end(jobs.create_job(scope, point, [big_item.pk], [], "original", "", "keep-both"))
    assert both.items_done == 1
    assert DriveItem.objects.filter(parent=root, name="big 1.bin", deleted_at=None).exists()
    over = run_to_end(jobs.create_job(scope, point, [big_item.pk], [], "original", "", "overwrite"))
    assert over.items_done == 1
    replaced = DriveItem.objects.get(parent=root, name="big.bin", deleted_at=None)
    assert replaced.versions.count() == 2

    to_folder = run_to_end(
        jobs.create_job(scope, point, [files[0].pk], [], "folder", "Back", "skip")
    )
    assert to_folder.status == "completed"
    path = "/".join(p for p in ["Back", files[0].folder.path, files[0].name] if p)
    assert _drive_path(owner.drive, path) == _blob(files[0])


def _blob(item: Item) -> bytes:
    from restore.blobs import blob_store

    with blob_store().open(item.content_sha256) as stream:
        return stream.read()


def _drive_path(drive, path: str) -> bytes:
    from sandbox.graph import drive as sandbox_drive
    from sandbox.models import DriveItem

    node = sandbox_drive.root_of(drive)
    for name in path.split("/"):
        node = DriveItem.objects.get(parent=node, name=name, deleted_at=None)
    return bytes(node.versions.order_by("-number").first().content)


def test_a_restore_is_resumed_without_duplicates_after_an_interruption(sandbox, alice):
    """Items an earlier attempt already created are found by their marker, not made again."""
    point = back_up_mailbox("alice")
    inbox = Folder.objects.get(object=point.object, path="Inbox")
    scope = Scope.for_user(alice)
    job = jobs.create_job(scope, point, [], [inbox.pk], "original", "", "keep-both")
    job = run_to_end(job)
    assert job.status == "completed"
    # As if the worker had died after Graph created them but before they were recorded:
    RestoreJobItem.objects.filter(job=job).update(status="pending", attempts=1, result_graph_id="")
    RestoreJob.objects.filter(pk=job.pk).update(status="queued", items_done=0, bytes_done=0)
    job = run_to_end(job)
    assert job.items_done == job.items_total
    assert restored_by_marker(job).count() == job.items_total


def test_cancelling_a_queued_job_stops_it(sandbox, alice):
    point = back_up_mailbox("alice")
    scope = Scope.for_user(alice)
    job = jobs.create_job(scope, point, [budget_item(point).pk], [], "original", "", "keep-both")
    assert jobs.cancel(job, by=alice)
    job.refresh_from_db()
    assert job.status == RestoreJob.Status.CANCELLED
    runner.run(job.pk)
    assert not restored_by_marker(job).exists()
    assert AuditEvent.objects.filter(action="restore.cancelled", target=str(job.pk)).exists()


def test_transitions_come_from_one_table():
    assert RestoreJob.Status.COMPLETED not in jobs.TRANSITIONS[RestoreJob.Status.QUEUED]
    for finished in RestoreJob.FINISHED:
        assert all(finished not in sources for sources in jobs.TRANSITIONS.values())
