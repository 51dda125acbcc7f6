"""Test data for restore jobs: a catalog made from the sandbox's own mailbox and drive.

Until the backup engine (restore/backup/) lands, `back_up_mailbox` / `back_up_drive`
write what a backup would: one ProtectedObject, restore point 1, the folder tree, and each
message's MIME (the sandbox's own `$value`) or file's bytes in the blob store, with the
Graph fields restore needs in Item.meta. Replace them with the real backup once merged,
so that there is one way to get test data.

Fixtures here are imported by the test modules (`from tests.restore.jobs_support import …`).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from authflow import poller, signins
from authflow.models import SignIn, User
from restore.blobs import blob_store
from restore.models import (
    EntityKind,
    Folder,
    Item,
    ProtectedObject,
    RestorePoint,
    Workload,
)


def _point(obj: ProtectedObject) -> RestorePoint:
    now = timezone.now()
    return RestorePoint.objects.create(
        object=obj, seq=1, status=RestorePoint.Status.SUCCEEDED, started_at=now, finished_at=now
    )


def back_up_mailbox(alias: str) -> RestorePoint:
    from sandbox.graph import mime
    from sandbox.models import DirectoryUser, MailFolder, Message

    owner = DirectoryUser.objects.get(user_principal_name__startswith=f"{alias}@")
    obj = ProtectedObject.objects.create(
        tenant_id=owner.tenant_id,
        workload=Workload.MAIL,
        entity=EntityKind.USER,
        owner_id=owner.id,
        name=owner.display_name,
        address=owner.user_principal_name,
    )
    point = _point(obj)
    folders = {f.id: f for f in MailFolder.objects.filter(mailbox=owner, is_hidden=False)}

    def path_of(folder: Any) -> str:
        names = []
        while folder is not None and folder.well_known_name != "msgfolderroot":
            names.append(folder.display_name)
            folder = folders.get(folder.parent_id)
        return "/".join(reversed(names))

    catalog: dict[str, Folder] = {}
    for folder in folders.values():
        if folder.well_known_name == "msgfolderroot":
            continue
        parent = folders.get(folder.parent_id)
        catalog[folder.id] = Folder.objects.create(
            object=obj,
            graph_id=folder.id,
            parent_graph_id=""
            if parent is None or parent.well_known_name == "msgfolderroot"
            else parent.id,
            name=folder.display_name,
            path=path_of(folder),
            well_known=folder.well_known_name,
            first_seq=1,
        )
    messages = Message.objects.filter(mailbox=owner, folder_id__in=list(catalog)).prefetch_related(
        "attachments"
    )
    for message in messages:
        sha, size, _new = blob_store().put_bytes(mime.build(message))
        Item.objects.create(
            object=obj,
            folder=catalog[message.folder_id],
            graph_id=message.id,
            kind=Item.Kind.MESSAGE,
            first_seq=1,
            name=message.subject,
            sent_at=message.sent_at,
            dated_at=message.received_at or message.created_at,
            size=size,
            is_read=message.is_read,
            has_attachments=message.has_attachments,
            content_sha256=sha,
            body_text=message.body_preview,
            meta={
                "internetMessageId": message.internet_message_id,
                "from": message.from_address,
                "toRecipients": message.to_recipients,
                "ccRecipients": message.cc_recipients,
                "receivedDateTime": message.received_at.isoformat()
                if message.received_at
                else None,
                "sentDateTime": message.sent_at.isoformat() if message.sent_at else None,
                "importance": message.importance,
                "categories": message.categories,
                "isRead": message.is_read,
                "parentFolderId": message.folder_id,
            },
        )
    return point


def back_up_drive(alias: str) -> RestorePoint:
    from sandbox.models import DirectoryUser, DriveItem

    owner = DirectoryUser.objects.get(user_principal_name__startswith=f"{alias}@")
    drive = owner.drive
    obj = ProtectedObject.objects.create(
        tenant_id=owner.tenant_id,
        workload=Workload.ONEDRIVE,
        entity=EntityKind.USER,
        owner_id=owner.id,
        name=owner.display_name,
        address=owner.user_principal_name,
        graph_ref=drive.id,
    )
    point = _point(obj)
    items = {i.id: i for i in DriveItem.objects.filter(drive=drive, deleted_at__isnull=True)}

    def path_of(entry: Any) -> str:
        names = []
        while entry is not None and entry.parent_id is not None:
            names.append(entry.name)
            entry = items.get(entry.parent_id)
        return "/".join(reversed(names))

    catalog: dict[str, Folder] = {}
    for entry in sorted((i for i in items.values() if i.is_folder), key=lambda i: i.depth):
        catalog[entry.id] = Folder.objects.create(
            object=obj,
            graph_id=entry.id,
            parent_graph_id=entry.parent_id or "",
            name=entry.name,
            path=path_of(entry),
            well_known="root" if entry.parent_id is None else "",
            first_seq=1,
        )
    for entry in items.values():
        if entry.is_folder:
            continue
        latest = entry.versions.order_by("-number").first()
        data = bytes(latest.content) if latest else b""
        sha, size, _new = blob_store().put_bytes(data)
        Item.objects.create(
            object=obj,
            folder=catalog[entry.parent_id],
            graph_id=entry.id,
            kind=Item.Kind.FILE,
            first_seq=1,
            name=entry.name,
            dated_at=entry.modified_at,
            size=size,
            content_sha256=sha,
            meta={"mimeType": entry.mime_type, "quickXorHash": entry.quick_xor_hash},
        )
    return point


def sign_in(sandbox: Any, alias: str) -> User:
    """Sign `alias` in by device code with the real flow, polling in this process."""
    sandbox.policy(device_code_interval=1)
    attempt = signins.start_device_sign_in()
    sandbox.approve(attempt.user_code, alias)
    for _ in range(10):
        if attempt.status != SignIn.Status.PENDING:
            break
        poller.run(max_seconds=1.5, threads=2)
        attempt.refresh_from_db()
    assert attempt.status == SignIn.Status.COMPLETED, attempt.message
    return attempt.result_user


@pytest.fixture
def alice(sandbox: Any) -> User:
    return sign_in(sandbox, "alice")


def add_messages(alias: str, count: int, folder: str = "inbox") -> None:
    """`count` more (small, read, sent) messages in a mailbox of the sandbox, in bulk."""
    from sandbox.graph import mail
    from sandbox.models import DirectoryUser, ExtendedProperty, Message

    owner = DirectoryUser.objects.get(user_principal_name__startswith=f"{alias}@")
    target = mail.ensure_well_known(owner, folder)
    messages, properties = [], []
    for n in range(count):
        message, props, _attachments = mail.build_message(
            owner,
            target,
            {
                "subject": f"Bulk message {n}",
                "body": {"contentType": "text", "content": f"Body of bulk message {n}."},
                "from": {"emailAddress": {"name": "Bob", "address": "bob@contoso.example"}},
                "toRecipients": [{"emailAddress": {"address": owner.user_principal_name}}],
                "internetMessageId": f"<bulk-{n}@contoso.example>",
                "singleValueExtendedProperties": [{"id": "Integer 0x0E07", "value": "1"}],
            },
        )
        messages.append(message)
        properties.extend(props)
    Message.objects.bulk_create(messages)
    ExtendedProperty.objects.bulk_create(properties)
