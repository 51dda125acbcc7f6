"""Catalog rows for tests: users, protected objects, restore points, folders and items,
with real MIME and file bytes in the blob store (this run's store, see tests/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

from django.utils import timezone

from authflow.models import User
from restore.blobs import blob_store
from restore.models import EntityKind, Folder, Item, ProtectedObject, RestorePoint, Workload

CONTOSO = uuid.UUID("5b7c2f1e-8d4a-4c3b-9e6f-1a2b3c4d5e6f")
FABRIKAM = uuid.UUID("9c8d7e6f-5a4b-4c3d-8e2f-0a1b2c3d4e5f")


def user(
    alias: str, *, tenant: uuid.UUID = CONTOSO, oid: uuid.UUID | None = None, **fields
) -> User:
    oid = oid or uuid.uuid4()
    domain = "contoso.example" if tenant == CONTOSO else "fabrikam.example"
    return User.objects.create(
        username=f"{oid}.{tenant}",
        oid=oid,
        tenant_id=tenant,
        upn=f"{alias}@{domain}",
        display_name=alias.title(),
        **fields,
    )


def protected_object(
    owner: User | None = None,
    *,
    workload: str = Workload.MAIL,
    owner_id: uuid.UUID | str | None = None,
    tenant: uuid.UUID | None = None,
    entity: str = EntityKind.USER,
    name: str | None = None,
) -> ProtectedObject:
    return ProtectedObject.objects.create(
        tenant_id=tenant or (owner.tenant_id if owner else CONTOSO),
        workload=workload,
        entity=entity,
        owner_id=owner_id or owner.oid,
        name=name or (owner.display_name if owner else "Group"),
        address=owner.upn if owner else "",
    )


def point(
    obj: ProtectedObject, seq: int, *, status: str = RestorePoint.Status.SUCCEEDED
) -> RestorePoint:
    started = datetime(2026, 3, seq, 2, 0, tzinfo=timezone.get_current_timezone())
    return RestorePoint.objects.create(
        object=obj,
        seq=seq,
        status=status,
        started_at=started,
        finished_at=started + timedelta(minutes=5),
    )


def folder(
    obj: ProtectedObject,
    path: str,
    *,
    well_known: str = "",
    first_seq: int = 1,
    last_seq: int | None = None,
    parent: Folder | None = None,
) -> Folder:
    return Folder.objects.create(
        object=obj,
        graph_id=f"folder-{path or 'root'}",
        parent_graph_id=parent.graph_id if parent else "",
        name=path.rsplit("/", 1)[-1] or "root",
        path=path,
        well_known=well_known,
        first_seq=first_seq,
        last_seq=last_seq,
    )


def mime(
    subject: str,
    *,
    sender: str = "Bob Lee <bob@contoso.example>",
    to: str = "Alice Kim <alice@contoso.example>",
    html: str | None = None,
    text: str = "",
    attachments: Sequence[tuple[str, str, bytes]] = (),
    inline_images: Sequence[tuple[str, str, bytes]] = (),
    date: datetime | None = None,
) -> bytes:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = to
    message["Date"] = format_datetime(date or timezone.now())
    message.set_content(text or "(no text)")
    if html is not None:
        message.add_alternative(html, subtype="html")
        html_part = list(message.iter_parts())[1]
        for content_id, content_type, data in inline_images:
            maintype, subtype = content_type.split("/")
            html_part.add_related(data, maintype=maintype, subtype=subtype, cid=f"<{content_id}>")
    for filename, content_type, data in attachments:
        maintype, subtype = content_type.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return bytes(message)


_counter = iter(range(1, 10**9))


def message(
    obj: ProtectedObject,
    in_folder: Folder,
    subject: str,
    *,
    sender: str = "Bob Lee <bob@contoso.example>",
    recipients: str = "Alice Kim <alice@contoso.example>",
    body: str = "",
    html: str | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
    inline_images: Sequence[tuple[str, str, bytes]] = (),
    dated_at: datetime | None = None,
    first_seq: int = 1,
    last_seq: int | None = None,
    graph_id: str | None = None,
    size: int | None = None,
) -> Item:
    dated_at = dated_at or (base_time() + timedelta(minutes=next(_counter)))
    raw = mime(
        subject,
        sender=sender,
        to=recipients,
        html=html,
        text=body,
        attachments=attachments,
        inline_images=inline_images,
        date=dated_at,
    )
    sha, stored_size, _ = blob_store().put_bytes(raw, tenant=str(obj.tenant_id))
    return Item.objects.create(
        object=obj,
        folder=in_folder,
        graph_id=graph_id or f"msg-{uuid.uuid4()}",
        kind=Item.Kind.MESSAGE,
        first_seq=first_seq,
        last_seq=last_seq,
        name=subject,
        sender=sender,
        recipients=recipients,
        sent_at=dated_at,
        dated_at=dated_at,
        size=stored_size if size is None else size,
        has_attachments=bool(attachments),
        content_sha256=sha,
        body_text=body,
    )


def file(
    obj: ProtectedObject,
    in_folder: Folder,
    name: str,
    content: bytes = b"file content",
    *,
    dated_at: datetime | None = None,
    first_seq: int = 1,
    last_seq: int | None = None,
    graph_id: str | None = None,
    versions: list[dict] | None = None,
    modified_by: str = "Alice Kim",
) -> Item:
    sha, size, _ = blob_store().put_bytes(content, tenant=str(obj.tenant_id))
    dated_at = dated_at or (base_time() + timedelta(minutes=next(_counter)))
    return Item.objects.create(
        object=obj,
        folder=in_folder,
        graph_id=graph_id or f"file-{uuid.uuid4()}",
        kind=Item.Kind.FILE,
        first_seq=first_seq,
        last_seq=last_seq,
        name=name,
        sender=modified_by,
        dated_at=dated_at,
        size=size,
        content_sha256=sha,
        meta={"mimeType": "application/octet-stream", "versions": versions or []},
    )


def base_time() -> datetime:
    return datetime(2026, 3, 1, 9, 0, tzinfo=timezone.get_current_timezone())


def mailbox(owner: User, *, points: int = 1, messages: int = 3) -> dict:
    """A mailbox with an Inbox (and Inbox/Projects), `points` restore points, messages."""
    obj = protected_object(owner)
    pts = [point(obj, seq) for seq in range(1, points + 1)]
    inbox = folder(obj, "Inbox", well_known="inbox")
    projects = folder(obj, "Inbox/Projects", parent=inbox)
    items = [
        message(obj, inbox, f"Message {n} for {owner.display_name}", body=f"text number {n}",
                attachments=[("report.txt", "text/plain", b"report body")] if n == 1 else [])
        for n in range(1, messages + 1)
    ]  # fmt: skip
    return {"object": obj, "points": pts, "inbox": inbox, "projects": projects, "items": items}
