"""Calendars and contacts of the sandbox's mailboxes: calendars, events, contact folders,
contacts, their extended properties and attachments, and the invitations Exchange would
have sent.

Events are kept as Exchange keeps them: single instances and series masters are items of
a calendar; a series' occurrences are not stored but expanded from the master's
`recurrence` on request (sandbox/graph/recurrence.py); a changed occurrence is an
exception row pointing at its master (with the occurrence's original start), and a
deleted occurrence is a date in the master's `cancelled`. Event and contact properties
that Graph reads and writes as JSON are stored in Graph's own shape in `data`.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from sandbox.models.directory import DirectoryUser, Group


class Calendar(models.Model):
    """A user's calendar (`owner`), or the one calendar of a Microsoft 365 group
    (`group`, no owner): Graph serves it at /groups/{id}/calendar and /groups/{id}/events,
    to delegated callers who are members or owners only."""

    id = models.CharField(primary_key=True, max_length=160)
    owner = models.ForeignKey(
        DirectoryUser, on_delete=models.CASCADE, null=True, blank=True, related_name="calendars"
    )
    group = models.ForeignKey(
        Group, on_delete=models.CASCADE, null=True, blank=True, related_name="calendars"
    )
    name = models.CharField(max_length=255)
    is_default = models.BooleanField(default=False)
    color = models.CharField(max_length=32, default="auto")
    change_key = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class Event(models.Model):
    class Kind(models.TextChoices):
        SINGLE = "singleInstance"
        MASTER = "seriesMaster"
        EXCEPTION = "exception"

    id = models.CharField(primary_key=True, max_length=200)
    # None for a group's event: the group organises it (its calendar says which).
    owner = models.ForeignKey(
        DirectoryUser, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    calendar = models.ForeignKey(Calendar, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind, default=Kind.SINGLE)
    master = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="exceptions"
    )
    # Exceptions: the start (UTC) the occurrence had in the pattern.
    original_start = models.DateTimeField(null=True, blank=True)
    # Start and end in UTC, for windows (calendarView) and ordering.
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    # Masters: original starts (ISO, UTC) of the occurrences deleted from the series.
    cancelled = models.JSONField(default=list, blank=True)
    # Graph's own shapes: subject, body, start, end, location, attendees, organizer,
    # recurrence, isAllDay, categories, importance, sensitivity, showAs, reminders, …
    data = models.JSONField(default=dict)
    ical_uid = models.CharField(max_length=300)
    change_key = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    modified_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["calendar", "starts_at"], name="event_calendar_start"),
            models.Index(fields=["owner", "ical_uid"], name="event_owner_icaluid"),
        ]

    def __str__(self) -> str:
        return str(self.data.get("subject", ""))


class EventAttachment(models.Model):
    id = models.CharField(primary_key=True, max_length=200)
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="attachments")
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255, default="application/octet-stream")
    size = models.PositiveIntegerField(default=0)
    is_inline = models.BooleanField(default=False)
    modified_at = models.DateTimeField(default=timezone.now)
    data = models.BinaryField()

    def __str__(self) -> str:
        return self.name


class ContactFolder(models.Model):
    id = models.CharField(primary_key=True, max_length=160)
    owner = models.ForeignKey(
        DirectoryUser, on_delete=models.CASCADE, related_name="contact_folders"
    )
    # None for the default "Contacts" folder (the root of the user's contact folders).
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="child_folders"
    )
    display_name = models.CharField(max_length=255)

    def __str__(self) -> str:
        return self.display_name


class Contact(models.Model):
    id = models.CharField(primary_key=True, max_length=200)
    owner = models.ForeignKey(DirectoryUser, on_delete=models.CASCADE, related_name="contacts")
    folder = models.ForeignKey(ContactFolder, on_delete=models.CASCADE, related_name="contacts")
    # Graph's own shapes: givenName, surname, displayName, emailAddresses, phones, …
    data = models.JSONField(default=dict)
    photo = models.BinaryField(null=True, blank=True)
    photo_type = models.CharField(max_length=64, blank=True)
    change_key = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    modified_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return str(self.data.get("displayName", ""))


class ContactChange(models.Model):
    """A contact added, changed or deleted in a folder: what contacts/delta reports."""

    id = models.BigAutoField(primary_key=True)
    folder_id = models.CharField(max_length=160)
    contact_id = models.CharField(max_length=200)

    class Meta:
        indexes = [models.Index(fields=["folder_id", "id"], name="contactchange_folder")]

    def __str__(self) -> str:
        return f"{self.contact_id} in {self.folder_id}"


class ItemProperty(models.Model):
    """A singleValueExtendedProperty of an event or a contact (`key` lower-cased)."""

    event = models.ForeignKey(
        Event, null=True, blank=True, on_delete=models.CASCADE, related_name="properties"
    )
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.CASCADE, related_name="properties"
    )
    property_id = models.CharField(max_length=300)
    key = models.CharField(max_length=300)
    value = models.CharField(max_length=1000)

    class Meta:
        indexes = [models.Index(fields=["key", "value"], name="itemprop_key_value")]

    def __str__(self) -> str:
        return f"{self.property_id} = {self.value}"


class Invitation(models.Model):
    """A meeting request (or update, or cancellation) Exchange would have sent to an
    attendee: tests assert on these rather than on mail that never leaves the sandbox."""

    # None: a group's event (the group sends them).
    organizer = models.ForeignKey(
        DirectoryUser,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="invitations_sent",
    )
    event_id = models.CharField(max_length=200)
    recipient = models.CharField(max_length=320)
    subject = models.TextField(blank=True)
    kind = models.CharField(max_length=16, default="request")  # request | cancellation
    sent_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.kind} to {self.recipient}: {self.subject}"
