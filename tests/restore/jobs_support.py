"""Test data for restore jobs: the sandbox's mailboxes and drives, really backed up.

`back_up_mailbox` / `back_up_drive` create one ProtectedObject and run the backup engine
(restore/backup/) on it: restore point 1, as production makes it.

Fixtures here are imported by the test modules (`from tests.restore.jobs_support import …`).
"""

from __future__ import annotations

from typing import Any

import pytest

from authflow import poller, signins
from authflow.models import SignIn, User
from restore.backup import runner
from restore.models import (
    EntityKind,
    ProtectedObject,
    RestorePoint,
    Workload,
)


def _backed_up(obj: ProtectedObject) -> RestorePoint:
    point = runner.run(obj).point
    assert point.status == RestorePoint.Status.SUCCEEDED, point.error
    return point


def _backed_up_object(alias: str, workload: Workload) -> RestorePoint:
    """Restore point 1 of one of the person's objects, by the backup engine."""
    from sandbox.models import DirectoryUser

    owner = DirectoryUser.objects.get(user_principal_name__startswith=f"{alias}@")
    obj = ProtectedObject.objects.create(
        tenant_id=owner.tenant_id,
        workload=workload,
        entity=EntityKind.USER,
        owner_id=owner.id,
        name=owner.display_name,
        address=owner.user_principal_name,
        graph_ref=owner.drive.id if workload == Workload.ONEDRIVE else "",
    )
    return _backed_up(obj)


def back_up_mailbox(alias: str) -> RestorePoint:
    """Restore point 1 of the person's mailbox, by the backup engine."""
    return _backed_up_object(alias, Workload.MAIL)


def back_up_drive(alias: str) -> RestorePoint:
    """Restore point 1 of the person's OneDrive, by the backup engine."""
    return _backed_up_object(alias, Workload.ONEDRIVE)


def sign_in(sandbox: Any, alias: str) -> User:
    """Sign `alias` in by device code with the real flow, polling in this process."""
    # Approved before the first poll, so no interval is needed (then back to 1 s).
    sandbox.policy(device_code_interval=0)
    attempt = signins.start_device_sign_in()
    sandbox.approve(attempt.user_code, alias)
    for _ in range(10):
        if attempt.status != SignIn.Status.PENDING:
            break
        poller.run(max_seconds=1.5, threads=2)
        attempt.refresh_from_db()
    sandbox.policy(device_code_interval=1)
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


def back_up_calendar(alias: str) -> RestorePoint:
    """Restore point 1 of the person's calendars, by the backup engine."""
    return _backed_up_object(alias, Workload.CALENDAR)


def back_up_contacts(alias: str) -> RestorePoint:
    """Restore point 1 of the person's contacts, by the backup engine."""
    return _backed_up_object(alias, Workload.CONTACTS)


def back_up_tasks(alias: str) -> RestorePoint:
    """Restore point 1 of the person's To Do, by the backup engine."""
    return _backed_up_object(alias, Workload.TASKS)
