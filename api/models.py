from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from authflow.models import User


class ApiToken(models.Model):
    """A bearer token of the portal's REST API, stored only as its SHA-256 hash.

    Tokens are issued in pairs (access + refresh) that share a `family`: every refresh
    rotates the pair within the family, and a refresh token presented a second time
    revokes the whole family (someone else holds a copy; RFC 9700 §4.14.2).
    """

    class Kind(models.TextChoices):
        ACCESS = "access", "Access"
        REFRESH = "refresh", "Refresh"

    token_hash = models.CharField(max_length=64, unique=True)
    family = models.UUIDField(default=uuid.uuid4, db_index=True)
    kind = models.CharField(max_length=8, choices=Kind)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    # How the family was started: operator, jwt-bearer (refresh keeps the family's grant).
    grant = models.CharField(max_length=16)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)  # refresh tokens: redeemed
    revoked_at = models.DateTimeField(null=True, blank=True)
    # When the family's grant was made: refreshes copy it, so the family ends
    # API_TOKEN_FAMILY_LIFETIME after it however often it is refreshed.
    family_started_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["user", "kind"], name="apitoken_user_kind")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=["access", "refresh"]), name="apitoken_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"API {self.kind} token of {self.user} (family {self.family})"


class UsedAssertion(models.Model):
    """A Microsoft assertion already traded for a token family, kept until it expires.

    `key` is the token's own id (`uti`, or `jti`) or, where the portal cannot read the
    token (a Graph access token), its SHA-256: an assertion mints one family, once.
    """

    key = models.CharField(max_length=80, unique=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"used assertion {self.key[:12]}… until {self.expires_at:%Y-%m-%d %H:%M}"
