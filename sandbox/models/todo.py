"""Microsoft To Do of the sandbox's people: task lists, tasks (Graph's shape in `data`),
checklist items, linked resources, file attachments, open extensions, the change journal
that `tasks/delta` reads, and attachment upload sessions (To Do's and Outlook events').
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from sandbox.models.directory import DirectoryUser


class TodoList(models.Model):
    id = models.CharField(primary_key=True, max_length=200)
    owner = models.ForeignKey(DirectoryUser, on_delete=models.CASCADE, related_name="todo_lists")
    display_name = models.CharField(max_length=255)
    # "defaultList" (Tasks), "flaggedEmails", or "none".
    wellknown = models.CharField(max_length=32, default="none")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.display_name


class TodoTask(models.Model):
    id = models.CharField(primary_key=True, max_length=200)
    owner = models.ForeignKey(DirectoryUser, on_delete=models.CASCADE, related_name="todo_tasks")
    task_list = models.ForeignKey(TodoList, on_delete=models.CASCADE, related_name="tasks")
    # Graph's own shapes: title, body, importance, status, categories, dueDateTime,
    # reminderDateTime, startDateTime, completedDateTime, isReminderOn, recurrence.
    data = models.JSONField(default=dict)
    # Open extensions: [{"extensionName": "com.example.x", ...custom properties}].
    extensions = models.JSONField(default=list, blank=True)
    etag = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    modified_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return str(self.data.get("title", ""))


class TodoChecklistItem(models.Model):
    id = models.CharField(primary_key=True, max_length=200)
    task = models.ForeignKey(TodoTask, on_delete=models.CASCADE, related_name="checklist")
    display_name = models.CharField(max_length=255)
    is_checked = models.BooleanField(default=False)
    checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.display_name


class TodoLinkedResource(models.Model):
    id = models.CharField(primary_key=True, max_length=200)
    task = models.ForeignKey(TodoTask, on_delete=models.CASCADE, related_name="linked")
    # webUrl, applicationName, displayName, externalId.
    data = models.JSONField(default=dict)

    def __str__(self) -> str:
        return str(self.data.get("displayName", ""))


class TodoAttachment(models.Model):
    id = models.CharField(primary_key=True, max_length=200)
    task = models.ForeignKey(TodoTask, on_delete=models.CASCADE, related_name="attachments")
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255, default="application/octet-stream")
    size = models.PositiveIntegerField(default=0)
    modified_at = models.DateTimeField(default=timezone.now)
    data = models.BinaryField()

    def __str__(self) -> str:
        return self.name


class TodoChange(models.Model):
    """A task added, changed or deleted in a list: what tasks/delta reports."""

    id = models.BigAutoField(primary_key=True)
    list_id = models.CharField(max_length=200)
    task_id = models.CharField(max_length=200)

    class Meta:
        indexes = [models.Index(fields=["list_id", "id"], name="todochange_list")]

    def __str__(self) -> str:
        return f"{self.task_id} in {self.list_id}"


class AttachmentUpload(models.Model):
    """An attachment upload session (`…/attachments/createUploadSession`) of a To Do task
    or an Outlook event: its URL is the capability, no token goes with the PUTs."""

    class Kind(models.TextChoices):
        TASK = "task"
        EVENT = "event"

    id = models.CharField(primary_key=True, max_length=64)
    kind = models.CharField(max_length=8, choices=Kind)
    parent_id = models.CharField(max_length=200)  # the task's or the event's id
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255, default="application/octet-stream")
    is_inline = models.BooleanField(default=False)
    size = models.BigIntegerField()
    received = models.BigIntegerField(default=0)
    data = models.BinaryField(default=b"")
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"upload of {self.name}"
