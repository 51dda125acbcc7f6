"""A message with an attachment of 3 MB or more restores through Outlook's upload session
(`createUploadSession`, ranges of 4 MB), byte for byte."""

from __future__ import annotations

import base64

import pytest

from restore.jobs import lifecycle as jobs
from restore.models import Item, RestoreJob
from restore.scope import Scope
from tests.restore.jobs_support import back_up_mailbox
from tests.restore.test_jobs import run_to_end

pytestmark = pytest.mark.django_db(transaction=True)

CONTENT = bytes(range(256)) * (9 * 1024 * 1024 // 256) + b"tail"  # 9 MB: three ranges


def add_large_message(alias: str) -> None:
    from sandbox.graph import mail
    from sandbox.models import Attachment, DirectoryUser, ExtendedProperty

    owner = DirectoryUser.objects.get(user_principal_name__startswith=f"{alias}@")
    inbox = mail.ensure_well_known(owner, "inbox")
    message, properties, attachments = mail.build_message(
        owner,
        inbox,
        {
            "subject": "Scanned contract",
            "body": {"contentType": "text", "content": "The signed contract, scanned."},
            "from": {"emailAddress": {"name": "Bob", "address": "bob@contoso.example"}},
            "toRecipients": [{"emailAddress": {"address": owner.user_principal_name}}],
            "internetMessageId": "<scan-1@contoso.example>",
            "singleValueExtendedProperties": [{"id": "Integer 0x0E07", "value": "1"}],
            "attachments": [
                {
                    "@odata.type": "#microsoft.graph.fileAttachment",
                    "name": "contract.pdf",
                    "contentType": "application/pdf",
                    "contentBytes": base64.b64encode(CONTENT).decode(),
                }
            ],
        },
    )
    message.save()
    ExtendedProperty.objects.bulk_create(properties)
    Attachment.objects.bulk_create(attachments)


def test_a_message_with_a_9_mb_attachment_comes_back_whole(sandbox, alice):
    from sandbox.models import Message

    add_large_message("alice")
    point = back_up_mailbox("alice")
    item = Item.objects.get(object=point.object, name="Scanned contract")
    Message.objects.filter(subject="Scanned contract").delete()

    job = run_to_end(
        jobs.create_job(Scope.for_user(alice), point.pk, [item.pk], [], "original", "", "skip")
    )

    assert job.status == RestoreJob.Status.COMPLETED, list(
        job.log.values_list("message", flat=True)
    )
    back = Message.objects.get(subject="Scanned contract")
    [attachment] = back.attachments.all()
    assert (attachment.name, attachment.size) == ("contract.pdf", len(CONTENT))
    assert bytes(attachment.data) == CONTENT
