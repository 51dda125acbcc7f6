"""Exchange mailboxes of the sandbox: folders, messages, attachments, extended properties.

A mailbox belongs to a directory user. Ids are opaque strings, as Exchange's are, and a
message gets a new id when it moves (Graph's default, mutable ids). Changes are
journalled in MailChange so that per-folder `messages/delta` can tell a client what was
added, changed, moved out or deleted since its last round.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from sandbox.models.directory import DirectoryUser


class MailFolder(models.Model):
    id = models.CharField(primary_key=True, max_length=160)
    mailbox = models.ForeignKey(
        DirectoryUser, on_delete=models.CASCADE, related_name="mail_folders"
    )
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="child_folders"
    )
    display_name = models.CharField(max_length=255)
    # inbox, drafts, sentitems, ... ; "" for folders people made.
    well_known_name = models.CharField(max_length=32, blank=True)
    # Folders outside the visible tree (Recoverable Items) are reachable by name only.
    is_hidden = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["mailbox", "well_known_name"], name="mailfolder_wellknown"),
            models.Index(fields=["parent", "display_name"], name="mailfolder_children"),
        ]

    def __str__(self) -> str:
        return self.display_name


class Message(models.Model):
    id = models.CharField(primary_key=True, max_length=160)
    mailbox = models.ForeignKey(DirectoryUser, on_delete=models.CASCADE, related_name="messages")
    folder = models.ForeignKey(MailFolder, on_delete=models.CASCADE, related_name="messages")
    subject = models.TextField(blank=True)
    body_content_type = models.CharField(max_length=8, default="html")  # "html" or "text"
    body = models.TextField(blank=True)
    body_preview = models.CharField(max_length=255, blank=True)
    # Stored in Graph's own shape: {"emailAddress": {"name": ..., "address": ...}}.
    sender = models.JSONField(null=True, blank=True)
    from_address = models.JSONField(null=True, blank=True)
    to_recipients = models.JSONField(default=list, blank=True)
    cc_recipients = models.JSONField(default=list, blank=True)
    bcc_recipients = models.JSONField(default=list, blank=True)
    reply_to = models.JSONField(default=list, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    modified_at = models.DateTimeField(default=timezone.now)
    is_read = models.BooleanField(default=False)
    is_draft = models.BooleanField(default=False)
    importance = models.CharField(max_length=8, default="normal")
    # PidTagSensitivity: 0 normal, 1 personal, 2 private, 3 confidential. Graph v1.0 has
    # no message.sensitivity property; clients read it as extended property Integer 0x0036.
    sensitivity = models.PositiveSmallIntegerField(default=0)
    internet_message_id = models.CharField(max_length=998, blank=True)
    conversation_id = models.CharField(max_length=160, blank=True)
    # [{"name": ..., "value": ...}], e.g. msip_labels for a sensitivity label.
    internet_message_headers = models.JSONField(default=list, blank=True)
    categories = models.JSONField(default=list, blank=True)
    flag_status = models.CharField(max_length=16, default="notFlagged")
    has_attachments = models.BooleanField(default=False)
    change_key = models.CharField(max_length=64, blank=True)
    # The MIME a message was created from (POST text/plain); None when made from JSON.
    mime = models.BinaryField(null=True, blank=True)

    class Meta:
        indexes = [
            # Folder pages ordered by receivedDateTime (the default order) and by id.
            models.Index(fields=["folder", "-received_at", "id"], name="message_folder_received"),
            models.Index(fields=["mailbox", "-received_at", "id"], name="message_mbx_received"),
            models.Index(fields=["mailbox", "internet_message_id"], name="message_mbx_imid"),
        ]

    def __str__(self) -> str:
        return self.subject


class ExtendedProperty(models.Model):
    """A singleValueExtendedProperty: `key` is the id lower-cased, for matching as Graph does."""

    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="extended_properties"
    )
    property_id = models.CharField(max_length=300)
    key = models.CharField(max_length=300)
    value = models.CharField(max_length=1000)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "key"], name="one_value_per_property"),
        ]
        indexes = [models.Index(fields=["key", "value"], name="extprop_key_value")]

    def __str__(self) -> str:
        return f"{self.property_id} = {self.value}"


class Attachment(models.Model):
    """A fileAttachment. (itemAttachment and referenceAttachment are not emulated.)"""

    id = models.CharField(primary_key=True, max_length=200)
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255, default="application/octet-stream")
    size = models.PositiveIntegerField(default=0)
    is_inline = models.BooleanField(default=False)
    content_id = models.CharField(max_length=255, blank=True)
    modified_at = models.DateTimeField(default=timezone.now)
    data = models.BinaryField()

    class Meta:
        indexes = [models.Index(fields=["message", "id"], name="attachment_message")]

    def __str__(self) -> str:
        return self.name


class MailChange(models.Model):
    """One change seen by a folder: a message added, changed, moved in or out, deleted.

    The auto-increment id orders changes; a delta token remembers the last id it saw.
    Seeded content has no rows: a first delta round lists the folder itself.
    """

    id = models.BigAutoField(primary_key=True)
    folder_id = models.CharField(max_length=160)
    message_id = models.CharField(max_length=160)

    class Meta:
        indexes = [models.Index(fields=["folder_id", "id"], name="mailchange_folder")]

    def __str__(self) -> str:
        return f"{self.message_id} in {self.folder_id}"
