"""The backup catalog, restore sessions and restore jobs.

Catalog: a `ProtectedObject` (a mailbox, a OneDrive) is backed up by runs; each
successful run is a `RestorePoint` with a per-object sequence number. Folders and items
are stored as *states* valid over a range of restore points: a state with
`first_seq <= point.seq` and (`last_seq` is null or `last_seq >= point.seq`) is what the
object held at that point. A change, move or deletion closes the current state
(`last_seq` = the previous point) and, unless deleted, opens a new one. Older points
therefore still show items deleted later, without copying rows per point.

Content (MIME, file bytes) lives in the blob store (restore/blobs/), addressed by the
keyed hash held in `Item.content_sha256`.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

if TYPE_CHECKING:
    from authflow.models import User


class Workload(models.TextChoices):
    MAIL = "mail", "Mailbox"
    ONEDRIVE = "onedrive", "OneDrive"
    CALENDAR = "calendar", "Calendar"
    CONTACTS = "contacts", "Contacts"
    # Microsoft To Do: a person's task lists (portal/permissions.py key "tasks").
    TASKS = "tasks", "To Do"
    # A SharePoint site's document library (a team's, a channel's, a communication site's).
    SHAREPOINT = "sharepoint", "SharePoint"


class EntityKind(models.TextChoices):
    USER = "user", "User"
    GROUP = "group", "Group"
    SITE = "site", "Site"


class ProtectedObject(models.Model):
    """One thing that is backed up: a user's mailbox, a user's or group's OneDrive, one
    document library of a SharePoint site."""

    tenant_id = models.UUIDField()
    workload = models.CharField(max_length=16, choices=Workload)
    entity = models.CharField(max_length=8, choices=EntityKind, default=EntityKind.USER)
    # Whose membership opens it: the user or group; for a site library, the team's group,
    # or the site's own id (web id) for a communication or channel site.
    owner_id = models.UUIDField(help_text="Entra object id of the owning user or group")
    name = models.CharField(max_length=256)  # display name of the owner
    address = models.CharField(max_length=320, blank=True)  # UPN, group mail, library URL
    # Where Graph finds it: the drive id for OneDrive and site libraries; empty for mailboxes.
    graph_ref = models.CharField(max_length=200, blank=True)
    # What discovery learnt about it beyond the name: for a site library, the site's id,
    # title, URL, kind, group and owners, the library's name and URL (restore/backup/
    # discovery.py writes it; empty for mailboxes and OneDrives).
    details = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    # Left out by the tenant's "what to protect" (an exclusion, or not selected): neither
    # backed up nor restorable (restore/scope.py); set by discovery, audited there.
    excluded = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_backup_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One mailbox and one OneDrive per owner; a site has one object per library.
            models.UniqueConstraint(
                fields=["tenant_id", "workload", "owner_id"],
                condition=~Q(workload="sharepoint"),
                name="one_object_per_owner",
            ),
            models.UniqueConstraint(
                fields=["tenant_id", "graph_ref"],
                condition=Q(workload="sharepoint"),
                name="one_object_per_library",
            ),
        ]
        ordering = ["name", "workload"]

    def __str__(self) -> str:
        return f"{self.get_workload_display()} of {self.name}"


class RestorePoint(models.Model):
    """One backup run of one object; a restore point once it has succeeded."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Partially succeeded"
        FAILED = "failed", "Failed"
        # Needs a person's delegated token and holds none usable: goes on by itself when
        # one of `waiting_for` signs in (restore/backup/delegation.py).
        WAITING = "waiting", "Waiting for sign-in"

    class TokenKind(models.TextChoices):
        APPLICATION = "application", "Application"
        DELEGATED = "delegated", "Delegated"

    object = models.ForeignKey(
        ProtectedObject, on_delete=models.CASCADE, related_name="restore_points"
    )
    seq = models.PositiveIntegerField()  # 1, 2, 3… per object
    status = models.CharField(max_length=12, choices=Status, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    items_added = models.PositiveIntegerField(default=0)
    items_changed = models.PositiveIntegerField(default=0)
    items_removed = models.PositiveIntegerField(default=0)
    bytes_stored = models.BigIntegerField(default=0)  # new blob bytes written by this run
    # Graph delta links to continue from next time, keyed by folder id or "drive".
    delta_state = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=500, blank=True)  # safe to show
    # Whose token the run read Graph with: the app's (application permissions) or a
    # person's (delegated: `token_user`, and their UPN kept should the user go).
    token_kind = models.CharField(max_length=12, choices=TokenKind, blank=True)
    token_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="backups_read_as",
    )
    token_upn = models.CharField(max_length=320, blank=True)
    # Waiting for sign-in: the identities (oid.tid) whose sign-in lets the run go on.
    waiting_for = models.JSONField(default=list, blank=True)
    # What the run said beyond its counts (who may sign in, the code to enter, who it
    # read as): one line each, safe to show (no tokens).
    log = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["object", "seq"], name="one_point_per_seq")]
        ordering = ["-seq"]

    def __str__(self) -> str:
        return f"{self.object} at {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def is_usable(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.PARTIAL)


def valid_at(seq: int, prefix: str = "") -> Q:
    """States (of folders or items) that existed at restore point `seq`."""
    return Q(**{f"{prefix}first_seq__lte": seq}) & (
        Q(**{f"{prefix}last_seq__isnull": True}) | Q(**{f"{prefix}last_seq__gte": seq})
    )


class Folder(models.Model):
    """A state of a mail folder or a drive folder."""

    object = models.ForeignKey(ProtectedObject, on_delete=models.CASCADE, related_name="folders")
    graph_id = models.CharField(max_length=200)
    parent_graph_id = models.CharField(max_length=200, blank=True)  # "" for top level
    name = models.CharField(max_length=400)
    path = models.CharField(max_length=2000)  # "Inbox/Projects"; "" for a drive's root
    well_known = models.CharField(max_length=40, blank=True)  # "inbox", "root", …
    first_seq = models.PositiveIntegerField()
    last_seq = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["object", "graph_id", "first_seq"])]
        ordering = ["path"]

    def __str__(self) -> str:
        return self.path or "/"


class ContentStatus(models.TextChoices):
    MISSING = "missing", "Content missing from the backup store"
    CORRUPT = "corrupt", "Content damaged in the backup store"
    LOST = "lost", "Content lost"


class Item(models.Model):
    """A state of a message or a file, as one or more restore points saw it."""

    class Kind(models.TextChoices):
        MESSAGE = "message", "Message"
        FILE = "file", "File"
        EVENT = "event", "Event"
        CONTACT = "contact", "Contact"
        TASK = "task", "Task"

    object = models.ForeignKey(ProtectedObject, on_delete=models.CASCADE, related_name="items")
    folder = models.ForeignKey(Folder, on_delete=models.PROTECT, related_name="items")
    graph_id = models.CharField(max_length=200)
    kind = models.CharField(max_length=8, choices=Kind)
    first_seq = models.PositiveIntegerField()
    last_seq = models.PositiveIntegerField(null=True, blank=True)

    name = models.CharField(max_length=1000)  # subject, or file name
    # Mail: sender and recipients; files: who last modified it.
    sender = models.CharField(max_length=640, blank=True)  # "Name <address>"
    recipients = models.TextField(blank=True)  # to and cc, "Name <address>; …"
    sent_at = models.DateTimeField(null=True, blank=True)
    # The sort and filter date: received for mail, last modified for files.
    dated_at = models.DateTimeField()
    size = models.BigIntegerField(default=0)
    is_read = models.BooleanField(default=False)
    has_attachments = models.BooleanField(default=False)
    sensitivity = models.CharField(max_length=100, blank=True)  # label name or "Confidential"
    # The blob's address (restore/blobs/addressing.py: an HMAC of the content under the
    # tenant's key, the SHA-256 before blobs were keyed); "" = no content.
    content_sha256 = models.CharField(max_length=64, blank=True)
    # What `verify_blobs` (or the daily sample check) found wrong with the content; "" =
    # nothing known. LOST: gone from the store and from Microsoft 365, for good.
    content_status = models.CharField(max_length=8, choices=ContentStatus, blank=True)
    body_text = models.TextField(blank=True)  # plain text for search and snippets
    # Everything else Graph said that restore or preview needs (to/cc lists, message id,
    # internetMessageId, importance, flags, categories, file mime type, versions, …).
    meta = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            # The folder page: items of one folder state, newest first, keyset by (dated_at, id).
            models.Index(fields=["folder", "-dated_at", "-id"], name="item_folder_page"),
            models.Index(fields=["object", "graph_id", "first_seq"], name="item_by_graph_id"),
            models.Index(fields=["object", "-dated_at", "-id"], name="item_object_page"),
            # Search across many mailboxes reads their newest items from this index alone
            # (restore/catalog/search.py _newest_first); object_id lets it skip the others.
            models.Index(fields=["-dated_at", "-id"], include=["object"], name="item_newest_first"),
            # The few items with a content problem (console, /healthz, metrics).
            models.Index(
                fields=["content_status"],
                name="item_content_problem",
                condition=~Q(content_status=""),
            ),
            # verify_blobs walks the distinct addresses in order.
            models.Index(fields=["content_sha256"], name="item_content_address"),
        ]

    def __str__(self) -> str:
        return self.name


class RestoreSession(models.Model):
    """What one signed-in identity may browse and restore, worked out when they open it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="restore_sessions"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    # The scope, resolved once: group ids from Graph, object ids allowed.
    group_ids = models.JSONField(default=list, blank=True)
    object_ids = models.JSONField(default=list, blank=True)
    notes = models.JSONField(default=list, blank=True)  # e.g. "groups unavailable: …"
    # Started through the API (POST /api/v1/restore-sessions, maybe narrowed to one object)
    # and used only where named (X-Restore-Session); pages use the identity's own session.
    explicit = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"Restore session of {self.user} from {self.created_at:%Y-%m-%d %H:%M}"


class OperatorScope(models.Model):
    """An admin lets a person (or members of a group) restore for users or groups."""

    class PrincipalKind(models.TextChoices):
        USER = "user", "User"
        GROUP = "group", "Group"

    tenant_id = models.UUIDField()
    # Who gets the scope: one portal user, or every member of an Entra group.
    grantee_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="operator_scopes",
    )
    grantee_group_id = models.UUIDField(null=True, blank=True)
    grantee_name = models.CharField(max_length=320)
    # What they may restore: a user's objects, or the objects of a group and its members.
    principal_kind = models.CharField(max_length=8, choices=PrincipalKind)
    principal_id = models.UUIDField()
    principal_name = models.CharField(max_length=320)
    # Policy: the grantee may restore into these people's mailboxes and drives without
    # asking each time (restore/jobs/consent.py); the restore still runs on their own token.
    restore_without_asking = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(grantee_user__isnull=False) ^ Q(grantee_group_id__isnull=False),
                name="operator_scope_one_grantee",
            )
        ]

    def __str__(self) -> str:
        return f"{self.grantee_name} may restore for {self.principal_name}"


class RestoreJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        WAITING = "waiting-for-sign-in", "Waiting for sign-in"
        # Into another person's mailbox or drive: until they agree (restore/jobs/consent.py).
        CONSENT = "waiting-for-consent", "Waiting for consent"
        COMPLETED = "completed", "Completed"
        PARTIAL = "partially-failed", "Partially failed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINISHED = (Status.COMPLETED, Status.PARTIAL, Status.FAILED, Status.CANCELLED)

    class Target(models.TextChoices):
        ORIGINAL = "original", "Original location"
        FOLDER = "folder", "New folder"
        DOWNLOAD = "download", "Download"
        # Another person's mailbox or drive (`destination`), into a new folder, with their
        # consent and on their own delegated token.
        ANOTHER = "another", "Another person"

    class Collision(models.TextChoices):
        SKIP = "skip", "Skip"
        KEEP_BOTH = "keep-both", "Keep both"
        OVERWRITE = "overwrite", "Overwrite"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Who asked for it and whose delegated token writes into Microsoft 365.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="restore_jobs"
    )
    session = models.ForeignKey(
        RestoreSession, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    object = models.ForeignKey(ProtectedObject, on_delete=models.PROTECT, related_name="jobs")
    # target=another: the person's mailbox or drive the items go into, and that person,
    # whose delegated token writes (null: the source object and `user`).
    target_object = models.ForeignKey(
        ProtectedObject,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="restores_into",
    )
    writer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="restores_written",
    )
    restore_point = models.ForeignKey(RestorePoint, on_delete=models.PROTECT, related_name="jobs")
    target = models.CharField(max_length=12, choices=Target)
    target_name = models.CharField(max_length=255, blank=True)  # the new folder's name
    collision = models.CharField(max_length=12, choices=Collision, default=Collision.KEEP_BOTH)
    status = models.CharField(max_length=24, choices=Status, default=Status.QUEUED)
    cancel_requested = models.BooleanField(default=False)
    items_total = models.PositiveIntegerField(default=0)
    items_done = models.PositiveIntegerField(default=0)
    items_skipped = models.PositiveIntegerField(default=0)
    items_failed = models.PositiveIntegerField(default=0)
    # Restored items read back from Microsoft 365 after writing (restore/jobs/verify.py):
    # as written, or found different / not readable (each reported in the log).
    items_verified = models.PositiveIntegerField(default=0)
    items_unverified = models.PositiveIntegerField(default=0)
    bytes_total = models.BigIntegerField(default=0)
    bytes_done = models.BigIntegerField(default=0)
    waiting_reason = models.CharField(max_length=500, blank=True)  # what sign-in is missing
    download_sha256 = models.CharField(max_length=64, blank=True)  # finished download
    # A download job: ready to fetch (as often as needed) until then.
    download_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)  # a worker is on it

    class Meta:
        indexes = [
            models.Index(fields=["user", "-created_at"]),
            models.Index(fields=["status"]),
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Restore {self.id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def destination(self) -> ProtectedObject:
        """The mailbox or drive the items are written into."""
        return self.target_object or self.object

    @property
    def acting_user(self) -> User:
        """Whose delegated token writes: the other person's for target=another."""
        return self.writer or self.user

    @property
    def download_expired(self) -> bool:
        expires = self.download_expires_at
        return expires is not None and expires <= timezone.now()

    @property
    def into_new_folder(self) -> bool:
        return self.target in (self.Target.FOLDER, self.Target.ANOTHER)


class RestoreConsent(models.Model):
    """A restore into another person's mailbox or drive, asked of that person.

    The job waits (`waiting-for-consent`) until the person agrees on the portal, refuses,
    or the request expires (RESTORE_CONSENT_HOURS); an operator scope with
    `restore_without_asking` gives it at once (`by_policy`). Every outcome is audited.
    """

    class Status(models.TextChoices):
        ASKED = "asked", "Asked"
        GIVEN = "given", "Given"
        BY_POLICY = "by-policy", "Given by an administrator's policy"
        REFUSED = "refused", "Refused"
        EXPIRED = "expired", "Expired"
        WITHDRAWN = "withdrawn", "Withdrawn"

    job = models.OneToOneField(RestoreJob, on_delete=models.CASCADE, related_name="consent")
    status = models.CharField(max_length=10, choices=Status, default=Status.ASKED)
    asked_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "expires_at"])]

    def __str__(self) -> str:
        return f"Consent for {self.job_id}: {self.status}"


class RestoreJobItem(models.Model):
    """One item of a job and what became of it; the unit a resumed job picks up."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Restored"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"

    class Verification(models.TextChoices):
        VERIFIED = "verified", "Verified"
        MISMATCH = "mismatch", "Does not match the backup"
        UNREADABLE = "unreadable", "Could not be read back"

    job = models.ForeignKey(RestoreJob, on_delete=models.CASCADE, related_name="job_items")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=8, choices=Status, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    result_graph_id = models.CharField(max_length=200, blank=True)  # where it landed
    # Its name where it landed, when not its own (keep both: OneDrive's "report 1.docx").
    restored_as = models.CharField(max_length=400, blank=True)
    error = models.CharField(max_length=500, blank=True)  # safe to show
    finished_at = models.DateTimeField(null=True, blank=True)
    # A restored (done) item, read back after writing: "" not yet, then one of Verification.
    verification = models.CharField(max_length=10, choices=Verification, blank=True)
    verification_note = models.CharField(max_length=500, blank=True)  # what differed

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "item"], name="one_job_item_per_item")
        ]
        indexes = [models.Index(fields=["job", "status"])]

    def __str__(self) -> str:
        return f"{self.item_id} in {self.job_id}: {self.status}"


class RestoreJobLog(models.Model):
    """The job log a person reads: plain sentences, no tokens."""

    class Level(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        ERROR = "error", "Error"

    job = models.ForeignKey(RestoreJob, on_delete=models.CASCADE, related_name="log")
    at = models.DateTimeField(default=timezone.now)
    level = models.CharField(max_length=8, choices=Level, default=Level.INFO)
    message = models.CharField(max_length=1000)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return self.message
