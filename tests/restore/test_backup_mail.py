"""Mail backup against the sandbox tenant: full, incremental, moves, deletions, failures."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from restore.backup import discovery, runner
from restore.blobs import blob_store
from restore.models import Folder, Item, ProtectedObject, RestorePoint, valid_at
from sandbox import demo
from sandbox.graph import mail as mail_api
from sandbox.models import Fault, Message, ServicePrincipal

pytestmark = pytest.mark.django_db(transaction=True)


def mailbox_of(sandbox, alias: str) -> ProtectedObject:
    discovery.discover(sandbox.tenant_id)
    return ProtectedObject.objects.get(workload="mail", owner_id=sandbox.user(alias).id)


def items_at(point: RestorePoint):
    return Item.objects.filter(valid_at(point.seq), object=point.object)


def check_first_backup(sandbox) -> RestorePoint:
    """Alice's first backup catalogs every visible message with its metadata."""
    obj = mailbox_of(sandbox, "alice")
    outcome = runner.run(obj)
    point = outcome.point
    assert point.status == RestorePoint.Status.SUCCEEDED, point.error
    visible = Message.objects.filter(mailbox=sandbox.user("alice"), folder__is_hidden=False).count()
    assert point.items_added == visible == items_at(point).count()
    budget = items_at(point).get(name="Q3 budget — final")
    assert budget.folder.path == "Inbox"
    assert budget.folder.well_known == "inbox"
    source = Message.objects.get(mailbox=sandbox.user("alice"), subject="Q3 budget — final")
    assert budget.sender == "Bob Lee <bob@contoso.example>"
    assert budget.recipients == "Alice Kim <alice@contoso.example>"
    assert budget.meta["internetMessageId"] == source.internet_message_id
    assert budget.meta["importance"] == "high"
    assert not budget.is_read
    assert budget.has_attachments
    attachment = source.attachments.get()
    assert [(a["name"], a["size"], a["contentType"]) for a in budget.meta["attachments"]] == [
        (attachment.name, attachment.size, attachment.content_type)
    ]
    assert "final Q3 budget" in budget.body_text
    assert "<b>" not in budget.body_text
    with blob_store().open(budget.content_sha256) as blob:
        mime = blob.read()
    assert b"Q3 budget" in mime
    assert len(mime) == budget.size
    labelled = items_at(point).get(name="Board deck (Confidential)")
    assert labelled.sensitivity == "Confidential"
    assert Folder.objects.filter(object=obj, path="Inbox/Projects/Q3").exists()
    return point


def test_first_backup_then_incremental_added_changed_moved_and_deleted(sandbox):
    first = check_first_backup(sandbox)
    obj = first.object
    alice = sandbox.user("alice")
    inbox = demo.folder(alice, "inbox")
    budget = Message.objects.get(mailbox=alice, subject="Q3 budget — final")
    mover = Message.objects.filter(folder=inbox).exclude(pk=budget.pk).order_by("id").first()
    reader = Message.objects.filter(folder=inbox, is_read=False).exclude(pk=budget.pk).first()
    mail_api.soft_delete(budget)
    mail_api.move_message(mover, demo.folder(alice, "archive"))
    demo.mark_read(reader)
    demo.new_message(alice, sandbox.user("carol"), "Q4 planning kickoff", "<p>Monday</p>")

    second = runner.run(obj).point
    assert second.status == RestorePoint.Status.SUCCEEDED, second.error
    assert (second.seq, second.items_added, second.items_changed, second.items_removed) == (
        2, 1, 2, 1,
    )  # fmt: skip
    assert items_at(first).filter(name="Q3 budget — final").exists()
    assert not items_at(second).filter(name="Q3 budget — final").exists()
    assert not items_at(first).filter(name="Q4 planning kickoff").exists()
    assert items_at(second).get(name="Q4 planning kickoff").folder.path == "Inbox"
    assert (
        items_at(first)
        .get(name=mover.subject, meta__internetMessageId=mover.internet_message_id)
        .folder.path
        == "Inbox"
    )
    assert (
        items_at(second).get(meta__internetMessageId=mover.internet_message_id).folder.path
        == "Archive"
    )
    assert not items_at(first).get(graph_id=reader.id).is_read
    assert items_at(second).get(graph_id=reader.id).is_read
    visible = Message.objects.filter(mailbox=alice, folder__is_hidden=False).count()
    assert items_at(second).count() == visible
    assert items_at(first).count() == visible  # one deleted, one added since

    third = runner.run(obj).point  # nothing changed: an empty point that still shows all
    assert (third.items_added, third.items_changed, third.items_removed) == (0, 0, 0)
    assert items_at(third).count() == visible


def test_failed_run_leaves_earlier_points_intact(sandbox):
    obj = mailbox_of(sandbox, "alice")
    first = runner.run(obj).point
    before = set(items_at(first).values_list("pk", "first_seq", "last_seq"))
    budget = Message.objects.get(mailbox=sandbox.user("alice"), subject="Q3 budget — final")
    mail_api.soft_delete(budget)  # Inbox: read before Sent Items, closes a state…
    alice = sandbox.user("alice")
    demo.new_message(alice, sandbox.user("bob"), "Sent later", "<p>x</p>", where="sentitems")
    sandbox.fault("$batch", 500, remaining=50)  # …then fetching the new message fails
    failed = runner.run(obj).point
    assert failed.status == RestorePoint.Status.FAILED
    assert failed.seq == 2
    assert "500" in failed.error
    assert set(items_at(first).values_list("pk", "first_seq", "last_seq")) == before
    assert Item.objects.filter(object=obj, last_seq__isnull=False).count() == 0
    Fault.objects.all().delete()
    third = runner.run(obj).point
    assert third.status == RestorePoint.Status.SUCCEEDED
    assert third.seq == 3
    assert (third.items_added, third.items_removed) == (1, 1)
    assert items_at(first).filter(name="Q3 budget — final").exists()
    assert not items_at(third).filter(name="Q3 budget — final").exists()


def test_missing_application_permission_names_it(sandbox):
    obj = mailbox_of(sandbox, "alice")
    sp = ServicePrincipal.objects.get(
        tenant_id=sandbox.tenant_id, application__client_id=sandbox.confidential_client_id
    )
    sp.graph_app_roles = [r for r in sp.graph_app_roles if not r.startswith("Mail.")]
    sp.save()
    from authflow import flows

    flows._app_only.clear()
    point = runner.run(obj).point
    assert point.status == RestorePoint.Status.FAILED
    assert "Mail.Read" in point.error
    assert "application permission" in point.error
    assert not Item.objects.filter(object=obj).exists()


def test_a_second_run_of_the_same_object_stops_at_once(sandbox):
    obj = mailbox_of(sandbox, "alice")
    locked, release = threading.Event(), threading.Event()

    def first_run_holding_the_lock() -> None:
        with transaction.atomic():
            ProtectedObject.objects.select_for_update().get(pk=obj.pk)
            locked.set()
            release.wait(10)
        connection.close()

    holder = threading.Thread(target=first_run_holding_the_lock)
    holder.start()
    try:
        assert locked.wait(5)
        with pytest.raises(runner.AlreadyRunning):
            runner.run(obj)
    finally:
        release.set()
        holder.join()
    assert not RestorePoint.objects.filter(object=obj).exists()
