from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models


class Role(models.TextChoices):
    """What a person may do in the portal. Admins can do everything helpdesk can."""

    END_USER = "end_user", "End user"
    HELPDESK = "helpdesk", "Helpdesk"
    ADMIN = "admin", "Admin"


class User(AbstractUser):
    """One person of one tenant, as Microsoft identifies them.

    `username` holds the identity key ``userId.tenantId`` (the validated id_token's
    ``oid`` and ``tid``): immutable, unique across tenants. The UPN and the display name
    are refreshed at each sign-in and are for display only, never for access decisions.
    Nobody has a usable password: people sign in with Microsoft.
    """

    Role = Role

    oid = models.UUIDField(null=True, blank=True)
    tenant_id = models.UUIDField(null=True, blank=True)
    upn = models.CharField("user principal name", max_length=320, blank=True)
    display_name = models.CharField(max_length=256, blank=True)
    role = models.CharField(max_length=16, choices=Role, default=Role.END_USER)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="user_role_valid"
            ),
            models.UniqueConstraint(fields=["oid", "tenant_id"], name="user_identity_unique"),
        ]

    def __str__(self) -> str:
        return self.upn or self.username

    @property
    def identity(self) -> str:
        """The identity key, ``userId.tenantId``."""
        return self.username

    @property
    def is_helpdesk(self) -> bool:
        return self.role in (self.Role.HELPDESK, self.Role.ADMIN)

    @property
    def is_portal_admin(self) -> bool:
        return self.role == self.Role.ADMIN
