"""OneDrive for Business drives of the sandbox: users' and groups' drives, items, versions.

Deleted items are kept with `deleted_at` set (OneDrive keeps them in the recycle bin),
so that `delta` can report them with the `deleted` facet. Every content write adds a
DriveItemVersion; the newest is the item's content.
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from sandbox.models.directory import DirectoryUser, Group, Tenant


class Drive(models.Model):
    id = models.CharField(primary_key=True, max_length=80)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="drives")
    owner_user = models.OneToOneField(
        DirectoryUser, on_delete=models.CASCADE, null=True, blank=True, related_name="drive"
    )
    owner_group = models.OneToOneField(
        Group, on_delete=models.CASCADE, null=True, blank=True, related_name="drive"
    )
    name = models.CharField(max_length=255, default="OneDrive")
    # The SharePoint site whose document library this is (a group's drive: its team site).
    site = models.ForeignKey(
        "sandbox.Site", on_delete=models.CASCADE, null=True, blank=True, related_name="drives"
    )
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.name} of {self.owner_user or self.owner_group or self.site}"


class DriveItem(models.Model):
    id = models.CharField(primary_key=True, max_length=80)
    drive = models.ForeignKey(Drive, on_delete=models.CASCADE, related_name="items")
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="children"
    )
    name = models.CharField(max_length=400)
    is_folder = models.BooleanField(default=False)
    depth = models.PositiveIntegerField(default=0)  # root 0: delta lists parents first
    size = models.BigIntegerField(default=0)
    mime_type = models.CharField(max_length=255, blank=True)
    quick_xor_hash = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    modified_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        DirectoryUser, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    modified_by = models.ForeignKey(
        DirectoryUser, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Bumped on every change: eTag is "{id},{version}" as OneDrive's.
    revision = models.PositiveIntegerField(default=1)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # OneDrive names are unique per folder, case-insensitively.
            models.UniqueConstraint(
                "parent",
                Lower("name"),
                condition=models.Q(deleted_at__isnull=True),
                name="driveitem_unique_name",
            ),
        ]
        indexes = [
            models.Index(fields=["parent", "name"], name="driveitem_children"),
            models.Index(fields=["drive", "depth", "id"], name="driveitem_delta"),
        ]

    def __str__(self) -> str:
        return self.name


class DriveItemVersion(models.Model):
    item = models.ForeignKey(DriveItem, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()  # shown as "1.0", "2.0", ...
    size = models.BigIntegerField(default=0)
    quick_xor_hash = models.CharField(max_length=40, blank=True)
    content = models.BinaryField()
    modified_at = models.DateTimeField(default=timezone.now)
    modified_by = models.ForeignKey(
        DirectoryUser, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "number"], name="one_version_number"),
        ]

    def __str__(self) -> str:
        return f"{self.item} v{self.number}.0"


class DriveChange(models.Model):
    """An item of a drive changed (created, updated, moved, deleted); see MailChange."""

    id = models.BigAutoField(primary_key=True)
    drive_id = models.CharField(max_length=80)
    item_id = models.CharField(max_length=80)

    class Meta:
        indexes = [models.Index(fields=["drive_id", "id"], name="drivechange_drive")]

    def __str__(self) -> str:
        return f"{self.item_id} in {self.drive_id}"


class UploadSession(models.Model):
    """A resumable upload (createUploadSession); its URL is the capability, no token needed."""

    id = models.CharField(primary_key=True, max_length=64)
    drive = models.ForeignKey(Drive, on_delete=models.CASCADE, related_name="upload_sessions")
    parent = models.ForeignKey(DriveItem, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=400)
    conflict_behavior = models.CharField(max_length=8, default="replace")
    size = models.BigIntegerField(null=True, blank=True)  # known from the first fragment
    received = models.BigIntegerField(default=0)  # bytes 0..received-1 are here
    created_by = models.ForeignKey(
        DirectoryUser, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"upload of {self.name}"


class UploadFragment(models.Model):
    session = models.ForeignKey(UploadSession, on_delete=models.CASCADE, related_name="fragments")
    start = models.BigIntegerField()
    data = models.BinaryField()

    class Meta:
        ordering = ["start"]

    def __str__(self) -> str:
        return f"fragment at {self.start}"
