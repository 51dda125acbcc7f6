"""What the sandbox identity platform remembers between requests."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.db import models
from django.utils import timezone

from sandbox.models.directory import Application, DirectoryUser, Tenant


class Policy(models.Model):
    """Lifetimes and behaviours of the sandbox, one row. Entra's defaults; tests shrink them.

    Kept in the database, not in settings, so a test can change them while the live
    server and the worker processes run.
    """

    device_code_lifetime = models.PositiveIntegerField(default=900)
    device_code_interval = models.PositiveIntegerField(default=5)
    # RFC 8628 allows slow_down; Entra documents it but rarely sends it. On by default
    # so clients must prove they honour the interval.
    slow_down_enabled = models.BooleanField(default=True)
    # A poll this much earlier than the interval still counts as on time (clock skew).
    poll_tolerance_ms = models.PositiveIntegerField(default=500)
    access_token_min_lifetime = models.PositiveIntegerField(default=60 * 60)
    access_token_max_lifetime = models.PositiveIntegerField(default=90 * 60)
    refresh_token_lifetime = models.PositiveIntegerField(default=90 * 24 * 3600)
    authorization_code_lifetime = models.PositiveIntegerField(default=600)
    # Outlook's limits per app and mailbox.
    mailbox_concurrency = models.PositiveIntegerField(default=4)
    mailbox_requests_per_window = models.PositiveIntegerField(default=10_000)
    mailbox_window_seconds = models.PositiveIntegerField(default=600)
    # 150 MB of uploads (PATCH, POST, PUT bodies) per 5 minutes; MB read as MiB.
    mailbox_upload_bytes_per_window = models.PositiveBigIntegerField(default=150 * 1024 * 1024)
    mailbox_upload_window_seconds = models.PositiveIntegerField(default=300)
    throttling_enabled = models.BooleanField(default=True)
    # SharePoint's (and OneDrive's) limits per app and tenant, in resource units: the
    # smallest tenant size (0 - 1,000 licenses) of Microsoft's table.
    sharepoint_throttling_enabled = models.BooleanField(default=True)
    sharepoint_units = models.PositiveIntegerField(default=1_200)
    sharepoint_window_seconds = models.PositiveIntegerField(default=60)
    sharepoint_units_per_day = models.PositiveIntegerField(default=1_200_000)
    # Misbehaviour on request, for tests of the client's defences: put a nonce in
    # id_tokens that the client never sent (what an injected authorization code yields).
    tamper_id_token_nonce = models.BooleanField(default=False)
    # Conditional Access blocking the device code flow (an authentication-flows policy):
    # for everyone, or for the listed user principal names. The code can still be asked
    # for and entered; issuing tokens for it is refused with AADSTS53003.
    device_code_blocked = models.BooleanField(default=False)
    device_code_blocked_users = models.JSONField(default=list, blank=True)
    # Tenants that live in another Microsoft cloud: {tenant id: cloud_instance_name}
    # published in their discovery document (e.g. "microsoftonline.us").
    cloud_instance_names = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return "Sandbox policy"

    @classmethod
    def current(cls) -> Policy:
        policy, _ = cls.objects.get_or_create(pk=1)
        return policy


class SigningKey(models.Model):
    """An RS256 key. Published keys appear in the JWKS; the newest active one signs.

    Rollover: add a key (published, not yet signing), later make it the signer, and
    finally retire the old one (gone from the JWKS: its tokens stop validating).
    """

    kid = models.CharField(max_length=64, unique=True)
    private_key_pem = models.TextField()
    certificate_pem = models.TextField()
    is_signing = models.BooleanField(default=False)
    is_published = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.kid


class Consent(models.Model):
    """Delegated scopes a user consented to for an application (oauth2PermissionGrant)."""

    user = models.ForeignKey(DirectoryUser, on_delete=models.CASCADE, related_name="consents")
    application = models.ForeignKey(Application, on_delete=models.CASCADE)
    resource = models.CharField(max_length=256)  # e.g. https://graph.microsoft.com
    scopes = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "application", "resource"], name="one_consent_per_resource"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} → {self.application}: {' '.join(self.scopes)}"


class DeviceCode(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        DECLINED = "declined"
        REDEEMED = "redeemed"

    device_code_hash = models.CharField(max_length=64, unique=True)
    user_code = models.CharField(max_length=16, db_index=True)
    application = models.ForeignKey(Application, on_delete=models.CASCADE)
    # The tenant named in the authority; None for /common and /organizations.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, null=True, blank=True)
    scopes = models.JSONField(default=list)
    status = models.CharField(max_length=16, choices=Status, default=Status.PENDING)
    user = models.ForeignKey(DirectoryUser, on_delete=models.CASCADE, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    interval = models.PositiveIntegerField()
    last_polled_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    polls = models.PositiveIntegerField(default=0)
    slow_downs = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.user_code} ({self.status})"

    @property
    def is_expired(self) -> bool:
        return timezone.now() >= self.expires_at


class AuthorizationCode(models.Model):
    code_hash = models.CharField(max_length=64, unique=True)
    application = models.ForeignKey(Application, on_delete=models.CASCADE)
    user = models.ForeignKey(DirectoryUser, on_delete=models.CASCADE)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE)
    redirect_uri = models.TextField()
    scopes = models.JSONField(default=list)
    code_challenge = models.CharField(max_length=128, blank=True)
    code_challenge_method = models.CharField(max_length=8, blank=True)
    nonce = models.CharField(max_length=256, blank=True)
    auth_time = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    redeemed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"code for {self.user} ({'redeemed' if self.redeemed_at else 'open'})"


class RefreshToken(models.Model):
    """An opaque refresh token, stored as a hash.

    Entra rotates refresh tokens on every use but does not revoke the old one; each has
    its own sliding lifetime. Revocation works through the user's
    sign_in_sessions_valid_from (and `revoked_at` for a single token).
    """

    class ClientType(models.TextChoices):
        PUBLIC = "public"
        CONFIDENTIAL = "confidential"

    token_hash = models.CharField(max_length=64, unique=True)
    family = models.UUIDField(default=uuid.uuid4, db_index=True)
    user = models.ForeignKey(DirectoryUser, on_delete=models.CASCADE, related_name="refresh_tokens")
    application = models.ForeignKey(Application, on_delete=models.CASCADE)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE)
    client_type = models.CharField(max_length=16, choices=ClientType)
    grant = models.CharField(max_length=64)  # how the session started: device_code, ...
    issued_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    auth_time = models.DateTimeField()

    def __str__(self) -> str:
        return f"refresh token of {self.user} for {self.application}"

    @classmethod
    def lifetime(cls) -> timedelta:
        return timedelta(seconds=Policy.current().refresh_token_lifetime)


class Fault(models.Model):
    """A planned failure, for tests: the next `remaining` matching requests fail.

    `path_contains` matches the request path (e.g. "/oauth2/v2.0/token") and `method`,
    when set, the HTTP method. `action` "answer": answer `status` instead (429 and 503
    carry Retry-After when `retry_after` is set). `action` "reset" (Graph only): do the
    request, then drop the connection without answering, as a connection reset after
    Microsoft received the request does: the client can't know whether it happened.
    `action` "corrupt" (Graph only): do the request and answer as usual, then spoil what
    it created (a message loses its attachments and gets another subject; a file's
    content gets one byte flipped), so only a client that reads it back can tell.
    """

    class Action(models.TextChoices):
        ANSWER = "answer", "answer with the status"
        RESET = "reset", "do it, then reset the connection"
        CORRUPT = "corrupt", "do it, then spoil what it created"

    path_contains = models.CharField(max_length=256)
    method = models.CharField(max_length=8, blank=True, default="")
    action = models.CharField(max_length=8, choices=Action.choices, default=Action.ANSWER)
    status = models.PositiveIntegerField()
    retry_after = models.PositiveIntegerField(null=True, blank=True)
    remaining = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.action} {self.status} {self.method} {self.path_contains} x{self.remaining}"
