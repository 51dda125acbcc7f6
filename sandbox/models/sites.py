"""SharePoint sites of the sandbox: communication sites, team sites, channel sites.

A site holds document libraries (`Drive.site`). A team site belongs to a Microsoft 365
group (its members and owners reach it; the group's drive is its default library); a
private or shared channel of a team has a site of its own whose members are the
channel's. `SiteGrant` is an admin's Sites.Selected grant of a role on a site to an app.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from sandbox.models.directory import DirectoryUser, Group, Tenant


class Site(models.Model):
    class Kind(models.TextChoices):
        COMMUNICATION = "communication", "Communication site"
        TEAM = "team", "Team site"
        CHANNEL = "channel", "Channel site"

    # "{hostname},{site collection id},{web id}", as Graph's site ids.
    id = models.CharField(primary_key=True, max_length=200)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="sites")
    name = models.CharField(max_length=128)  # the URL segment: /sites/{name}
    display_name = models.CharField(max_length=256)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=16, choices=Kind)
    # Team site: the group it belongs to. Channel site: the team (group) of the channel.
    group = models.ForeignKey(
        Group, on_delete=models.CASCADE, null=True, blank=True, related_name="sites"
    )
    # Explicit site membership (communication and channel sites; team sites use the group).
    owners = models.ManyToManyField(DirectoryUser, related_name="owned_sites", blank=True)
    members = models.ManyToManyField(DirectoryUser, related_name="member_sites", blank=True)
    # Visitors may read the site's libraries, not write in them (SharePoint's Visitors group).
    visitors = models.ManyToManyField(DirectoryUser, related_name="visited_sites", blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def hostname(self) -> str:
        return self.id.partition(",")[0]

    @property
    def web_url(self) -> str:
        return f"https://{self.hostname}/sites/{self.name}"


class Channel(models.Model):
    class Membership(models.TextChoices):
        STANDARD = "standard", "Standard"
        PRIVATE = "private", "Private"
        SHARED = "shared", "Shared"

    id = models.CharField(primary_key=True, max_length=120)  # "19:…@thread.tacv2"
    team = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="channels")
    display_name = models.CharField(max_length=256)
    description = models.TextField(blank=True)
    membership_type = models.CharField(
        max_length=8, choices=Membership, default=Membership.STANDARD
    )
    # Private and shared channels: their own site. Standard ones keep a folder of the
    # team's library, named after the channel.
    site = models.OneToOneField(
        Site, on_delete=models.SET_NULL, null=True, blank=True, related_name="channel"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name


class SiteGrant(models.Model):
    """POST /sites/{id}/permissions: an app may use the site (Sites.Selected)."""

    id = models.CharField(primary_key=True, max_length=64)
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="grants")
    app_id = models.CharField(max_length=64)  # the application's client id
    app_display_name = models.CharField(max_length=256, blank=True)
    roles = models.JSONField(default=list)  # read, write, manage, fullcontrol

    def __str__(self) -> str:
        return f"{self.roles} on {self.site} for {self.app_id}"
