"""The sandbox tenant's mailboxes and drives, seeded from sandbox.generator.

`seed_content(scale=1)` runs inside sandbox.seed.reset(), after the directory: a few
hundred messages and about a hundred files for the demo people, their calendars and
contacts (sandbox/calendar_content.py), a drive for each
Microsoft 365 group, and Alice's "Q3 budget — final" (the demo deletes it between two
backups). scale=N adds N-1 synthetic users with 1,000 messages and 20 files each, so
scale≈1,000 gives a million messages for benchmarks. Rows go in with bulk inserts, in
batches, and ids derive from names: the same scale gives the same tenant.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db import models

from sandbox import calendar_content, constants, generator, todo_content
from sandbox.generator import Owner
from sandbox.graph import ids, mail, throttling
from sandbox.graph.drive import mime_type
from sandbox.models import (
    Attachment,
    DirectoryUser,
    Drive,
    DriveItem,
    DriveItemVersion,
    ExtendedProperty,
    Group,
    MailFolder,
    Message,
)
from sandbox.quickxor import quick_xor_hash

BATCH = 5_000
MESSAGES_PER_PERSON = 28
FILES_PER_PERSON = 8
SYNTHETIC_MESSAGES = 1_000
SYNTHETIC_FILES = 20


class Batches:
    """Collects unsaved rows per model and bulk-inserts them BATCH at a time, in order."""

    ORDER: tuple[type[models.Model], ...] = (
        MailFolder,
        Message,
        ExtendedProperty,
        Attachment,
        Drive,
        DriveItem,
        DriveItemVersion,
    )

    def __init__(self) -> None:
        self.rows: dict[type[models.Model], list[models.Model]] = {m: [] for m in self.ORDER}

    def add(self, *rows: models.Model) -> None:
        for row in rows:
            self.rows[type(row)].append(row)
        if sum(len(r) for r in self.rows.values()) >= BATCH:
            self.flush()

    def extend(self, rows: Iterable[models.Model]) -> None:
        self.add(*rows)

    def flush(self) -> None:
        # Parents before children: folders before messages, messages before attachments.
        for model in self.ORDER:
            if self.rows[model]:
                model._default_manager.bulk_create(self.rows[model], batch_size=BATCH)
                self.rows[model] = []


def owner_of(user: DirectoryUser) -> Owner:
    return Owner(
        key=user.user_principal_name,
        name=user.display_name,
        address=user.mail or user.user_principal_name,
    )


def seed_mailbox(batches: Batches, user: DirectoryUser, messages: Iterable[dict[str, Any]]) -> None:
    folders: dict[str, MailFolder] = {}

    def folder(
        path: str, well_known: str = "", parent: MailFolder | None = None, hidden: bool = False
    ) -> MailFolder:
        row = MailFolder(
            id=ids.folder_id(f"{user.user_principal_name}:{path}"),
            mailbox=user,
            parent=parent,
            display_name=path.rpartition("/")[2] or path,
            well_known_name=well_known,
            is_hidden=hidden,
        )
        folders[path] = row
        batches.add(row)
        return row

    root = folder("Top of Information Store", "msgfolderroot", hidden=True)
    folder("Recoverable Items/Deletions", "recoverableitemsdeletions", hidden=True)
    for path, well_known in generator.MAIL_FOLDERS:
        parent_path = path.rpartition("/")[0]
        folder(path, well_known, folders[parent_path] if parent_path else root)
    for data in messages:
        key = data["_key"]
        row, properties, attachments = mail.build_message(
            user,
            folders[data["_folder"]],
            {**data, "_trusted_headers": True, "_seed": key},
            message_id=ids.message_id(key),
            now=_created(data),
        )
        row.change_key = ids.change_key(key)
        batches.add(row)
        batches.extend(properties)
        batches.extend(attachments)


def _created(data: dict[str, Any]) -> Any:
    for prop in data["singleValueExtendedProperties"]:
        if prop["id"] == "SystemTime 0x0E06":
            return mail._time_value(prop["value"], prop["id"])
    return generator.EPOCH


def alice_specials(
    alice: DirectoryUser, bob: DirectoryUser, grace: DirectoryUser
) -> list[dict[str, Any]]:
    """The messages the demo and the tests name."""
    a, b, g = owner_of(alice), owner_of(bob), owner_of(grace)
    received = generator.EPOCH - timedelta(hours=1)
    budget = generator.message(
        key="demo:q3-budget-final",
        folder="Inbox",
        subject="Q3 budget — final",
        sender=b,
        to=[a],
        html="<html><body><p>Hi Alice,</p><p>Here is the <b>final</b> Q3 budget. Please don't "
        "share it outside Finance yet.</p><p>Bob</p></body></html>",
        received=received,
        is_read=False,
        attachments=[generator.attachment("Q3 budget final.xlsx", "Q3 budget, final figures")],
        importance="high",
    )
    labelled = generator.message(
        key="demo:board-deck-confidential",
        folder="Inbox",
        subject="Board deck (Confidential)",
        sender=g,
        to=[a],
        html="<html><body><p>Draft board deck attached. Labelled Confidential.</p></body></html>",
        received=received - timedelta(hours=3),
        attachments=[generator.attachment("Board deck.pdf", "Board deck")],
        headers=[{"name": "msip_labels", "value": generator.CONFIDENTIAL_LABEL}],
        sensitivity=3,
    )
    return [budget, labelled]


def seed_drive(
    batches: Batches,
    drive: Drive,
    owner_user: DirectoryUser | None,
    files: Iterable[generator.File],
) -> None:
    root = DriveItem(
        id=ids.item_id(f"{drive.id}:/"),
        drive=drive,
        name="root",
        is_folder=True,
        depth=0,
        created_at=drive.created_at,
        modified_at=drive.created_at,
    )
    folders = {"": root}
    batches.add(root)

    def folder_for(path: str, when: Any) -> DriveItem:
        if path in folders:
            return folders[path]
        parent_path, _, name = path.rpartition("/")
        parent = folder_for(parent_path, when)
        row = DriveItem(
            id=ids.item_id(f"{drive.id}:{path}"),
            drive=drive,
            parent=parent,
            name=name,
            is_folder=True,
            depth=parent.depth + 1,
            created_at=when,
            modified_at=when,
            created_by=owner_user,
            modified_by=owner_user,
        )
        folders[path] = row
        batches.add(row)
        return row

    for file in files:
        parent_path, _, name = file.path.rpartition("/")
        parent = folder_for(parent_path.strip("/") and parent_path, file.modified[0])
        latest = file.versions[-1]
        item = DriveItem(
            id=ids.item_id(f"{drive.id}:{file.path}"),
            drive=drive,
            parent=parent,
            name=name,
            depth=parent.depth + 1,
            size=len(latest),
            mime_type=_mime(name),
            quick_xor_hash=quick_xor_hash(latest),
            created_at=file.modified[0],
            modified_at=file.modified[-1],
            created_by=owner_user,
            modified_by=owner_user,
            revision=len(file.versions),
        )
        batches.add(item)
        for number, (content, when) in enumerate(
            zip(file.versions, file.modified, strict=True), start=1
        ):
            batches.add(
                DriveItemVersion(
                    item=item,
                    number=number,
                    size=len(content),
                    quick_xor_hash=quick_xor_hash(content),
                    content=content,
                    modified_at=when,
                    modified_by=owner_user,
                )
            )


def _mime(name: str) -> str:
    return mime_type(name)


def _synthetic_users(count: int) -> list[DirectoryUser]:
    tenant_id = constants.TENANT_ID
    users = []
    for n in range(1, count + 1):
        upn = f"user{n:06d}@{constants.TENANT_DOMAIN}"
        user = DirectoryUser(
            id=generator.stable_id("user", upn),
            tenant_id=tenant_id,
            user_principal_name=upn,
            display_name=f"Synthetic User {n}",
            given_name="Synthetic",
            surname=f"User {n}",
            mail=upn,
            job_title="Benchmark mailbox",
            department="Benchmarks",
            password="!",  # noqa: S106 (matches no password: synthetic users never sign in)
        )
        users.append(user)
    DirectoryUser.objects.bulk_create(users, batch_size=BATCH)
    return users


def seed_content(scale: int = 1) -> None:
    """Mailboxes and drives for the seeded directory (and synthetic users when scale > 1)."""
    throttling.new_epoch()
    batches = Batches()
    people = list(DirectoryUser.objects.select_related("tenant").order_by("user_principal_name"))
    by_alias = {u.user_principal_name.partition("@")[0]: u for u in people}
    owners_by_tenant: dict[Any, list[Owner]] = {}
    for user in people:
        owners_by_tenant.setdefault(user.tenant_id, []).append(owner_of(user))
    for user in people:
        colleagues = owners_by_tenant[user.tenant_id]
        count = MESSAGES_PER_PERSON if str(user.tenant_id) == constants.TENANT_ID else 10
        messages = list(generator.mailbox_messages(owner_of(user), colleagues, count))
        if user.user_principal_name.startswith("alice@"):
            messages = alice_specials(user, by_alias["bob"], by_alias["grace"]) + messages
        seed_mailbox(batches, user, messages)
        drive = Drive(
            id=ids.drive_id(f"user:{user.user_principal_name}"),
            tenant_id=user.tenant_id,
            owner_user=user,
            name="OneDrive",
            created_at=generator.EPOCH - timedelta(days=400),
        )
        batches.add(drive)
        seed_drive(batches, drive, user, generator.drive_files(owner_of(user), FILES_PER_PERSON))
        tenant_people = [u for u in people if u.tenant_id == user.tenant_id]
        calendar_content.seed_person(user, tenant_people)
        todo_content.seed_person(user)
    for group in Group.objects.filter(group_types__icontains="Unified"):
        drive = Drive(
            id=ids.drive_id(f"group:{group.id}"),
            tenant_id=group.tenant_id,
            owner_group=group,
            name="Documents",
            created_at=generator.EPOCH - timedelta(days=400),
        )
        batches.add(drive)
        owner = Owner(key=f"group:{group.id}", name=group.display_name, address=group.mail)
        seed_drive(batches, drive, None, generator.drive_files(owner, FILES_PER_PERSON))
        if group.display_name in calendar_content.GROUP_CALENDAR_GROUPS:
            calendar_content.seed_group(group)
    if scale > 1:
        synthetic = _synthetic_users(scale - 1)
        contoso = owners_by_tenant[people[0].tenant_id if people else None] if people else []
        for user in synthetic:
            owner = owner_of(user)
            seed_mailbox(
                batches, user, generator.mailbox_messages(owner, contoso, SYNTHETIC_MESSAGES)
            )
            drive = Drive(
                id=ids.drive_id(f"user:{user.user_principal_name}"),
                tenant_id=user.tenant_id,
                owner_user=user,
                name="OneDrive",
                created_at=generator.EPOCH - timedelta(days=400),
            )
            batches.add(drive)
            seed_drive(batches, drive, user, generator.drive_files(owner, SYNTHETIC_FILES))
    batches.flush()


def decode(content_bytes: str) -> bytes:
    return base64.b64decode(content_bytes)
