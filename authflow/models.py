from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone


class Role(models.TextChoices):
    """What a person may do in the portal. Admins can do everything helpdesk can."""

    END_USER = "end_user", "End user"
    HELPDESK = "helpdesk", "Helpdesk"
    ADMIN = "admin", "Admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)


def highest(*roles: str) -> Role:
    return max((Role(r) for r in roles), key=lambda r: r.rank)


class User(AbstractUser):
    """One person of one tenant, as Microsoft identifies them.

    `username` holds the identity key ``userId.tenantId`` (the validated id_token's
    ``oid`` and ``tid``): immutable, unique across tenants. The UPN and the display name
    are refreshed at each sign-in and are for display only, never for access decisions.
    Nobody has a usable password: people sign in with Microsoft.
    """

    oid = models.UUIDField(null=True, blank=True)
    tenant_id = models.UUIDField(null=True, blank=True)
    upn = models.CharField("user principal name", max_length=320, blank=True)
    display_name = models.CharField(max_length=256, blank=True)
    # Granted in the portal (admin pages, `manage.py grant`).
    role = models.CharField(max_length=16, choices=Role, default=Role.END_USER)
    # From Entra at the last sign-in: app roles (Lifeboat.Admin, Lifeboat.Helpdesk) or
    # membership of the groups ADMIN_GROUP_IDS / HELPDESK_GROUP_IDS name.
    directory_role = models.CharField(max_length=16, choices=Role, default=Role.END_USER)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="user_role_valid"
            ),
            models.UniqueConstraint(fields=["oid", "tenant_id"], name="user_identity_unique"),
        ]
        # The logged-in users page's default sort (console/logged_in_users.py).
        indexes = [models.Index(fields=["upn"], name="user_upn")]

    def __str__(self) -> str:
        return self.upn or self.username

    @property
    def identity(self) -> str:
        """The identity key, ``userId.tenantId``."""
        return self.username

    @property
    def effective_role(self) -> Role:
        """The stronger of the portal's grant and what Entra says."""
        return highest(self.role, self.directory_role)

    def get_effective_role_display(self) -> str:
        return self.effective_role.label

    @property
    def is_helpdesk(self) -> bool:
        """Helpdesk somewhere: by role, or by a tenant grant (authflow.access)."""
        if self.effective_role in (Role.HELPDESK, Role.ADMIN):
            return True
        return self.pk is not None and self.tenant_grants.exists()

    @property
    def is_portal_admin(self) -> bool:
        return self.effective_role == Role.ADMIN

    @property
    def is_tenant_admin(self) -> bool:
        """Administers only the tenants granted (TenantAdmin rows); authflow.access."""
        return self.pk is not None and self.tenant_grants.filter(role="admin").exists()


class TokenCache(models.Model):
    """An identity's delegated tokens: msal's SerializableTokenCache, encrypted (Fernet).

    One row per identity. `ciphertext` is empty once the tokens are revoked or forgotten;
    the row stays so admins can see the identity's history. The other fields are
    plain-text facts about the tokens, for the logged-in users table, never secrets.
    """

    class Status(models.TextChoices):
        VALID = "valid", "Valid"
        NEEDS_SIGN_IN = "needs_sign_in", "Needs sign-in"
        REVOKED = "revoked", "Revoked"
        UNREADABLE = "unreadable", "Cannot be decrypted"

    class Method(models.TextChoices):
        DEVICE_CODE = "device_code", "Device code"
        BROWSER = "browser", "Browser"

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="token_cache")
    ciphertext = models.BinaryField(default=b"")
    status = models.CharField(max_length=16, choices=Status, default=Status.VALID)
    status_reason = models.CharField(max_length=300, blank=True)  # safe to show
    # Which app refreshes these tokens: device-code tokens belong to the public client,
    # browser ones to the confidential client (Entra refuses the other: AADSTS700025).
    method = models.CharField(max_length=16, choices=Method)
    started_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    scopes = models.JSONField(default=list)
    signed_in_at = models.DateTimeField()
    access_token_expires_at = models.DateTimeField(null=True, blank=True)
    refresh_token_renewed_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # Who refreshes the tokens now (authflow/tokens.py): until when, NULL when nobody.
    refresh_lease_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["valid", "needs_sign_in", "revoked", "unreadable"]),
                name="tokencache_status_valid",
            ),
        ]
        # The logged-in users page's sorts (authflow/identities.py SORTS, then the id),
        # each walked for one keyset page (console/logged_in_users.py).
        indexes = [
            models.Index(models.F("signed_in_at").desc(), "id", name="tokencache_signed_in"),
            models.Index(fields=["access_token_expires_at", "id"], name="tokencache_expires"),
            models.Index(models.F("last_used_at").desc(), "id", name="tokencache_last_used"),
            models.Index(fields=["status", "id"], name="tokencache_status"),
        ]

    def __str__(self) -> str:
        return f"tokens of {self.user} ({self.status})"


class SignIn(models.Model):
    """One attempt to sign someone in, by device code or in the browser.

    Device-code attempts are polled by the Celery poller (authflow/poller.py); the msal
    flow (which holds the device code) is kept encrypted between polls.

    Transitions: pending → completed | declined | expired | failed | wrong_account |
    cancelled. Nothing leaves a final state.
    """

    class Method(models.TextChoices):
        DEVICE_CODE = "device_code", "Device code"
        BROWSER = "browser", "Browser"
        # A one-time link a helpdesk operator sends the person (authflow/links.py).
        LINK = "link", "Sign-in link"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for sign-in"
        COMPLETED = "completed", "Signed in"
        DECLINED = "declined", "Declined"
        EXPIRED = "expired", "Expired"
        FAILED = "failed", "Failed"
        WRONG_ACCOUNT = "wrong_account", "Wrong account"
        CANCELLED = "cancelled", "Cancelled"

    FINAL = frozenset(
        {
            Status.COMPLETED,
            Status.DECLINED,
            Status.EXPIRED,
            Status.FAILED,
            Status.WRONG_ACCOUNT,
            Status.CANCELLED,
        }
    )

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)  # public id
    method = models.CharField(max_length=16, choices=Method)
    status = models.CharField(max_length=16, choices=Status, default=Status.PENDING)
    message = models.CharField(max_length=500, blank=True)  # safe to show, says what next
    # The msal flow dict, encrypted: it contains the device code.
    flow_ciphertext = models.BinaryField(default=b"")
    user_code = models.CharField(max_length=32, blank=True)
    verification_uri = models.URLField(blank=True)
    scopes = models.JSONField(default=list)
    tenant = models.CharField(max_length=64)  # the authority's tenant
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    interval = models.PositiveIntegerField(default=5)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    polls = models.PositiveIntegerField(default=0)
    transient_failures = models.PositiveIntegerField(default=0)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Who started it (a helpdesk operator, or the person themself) and from where.
    started_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_from_ip = models.GenericIPAddressField(null=True, blank=True)
    # The browser that started it (User-Agent, cut): shown to the person afterwards.
    started_from_agent = models.CharField(max_length=300, blank=True)
    correlation_id = models.CharField(max_length=64, blank=True)
    # The browser that may be signed in when it completes: a hash of a secret kept in
    # that browser's session. Consumed once.
    browser_binding = models.CharField(max_length=64, blank=True)
    next_url = models.CharField(max_length=500, blank=True)
    # Whom we expect (helpdesk sign-ins): an identity key, or a group whose owners may.
    expected_identity = models.CharField(max_length=80, blank=True)
    expected_group_id = models.CharField(max_length=64, blank=True)
    expected_label = models.CharField(max_length=320, blank=True)
    # Who actually completed it (their UPN is shown to the helpdesk on a wrong account).
    result_user = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="sign_ins"
    )
    actual_identity = models.CharField(max_length=80, blank=True)
    actual_label = models.CharField(max_length=320, blank=True)
    # The provider's error of a refused sign-in (e.g. "AADSTS53003": Conditional Access
    # blocks device codes), so pages can offer what works instead.
    error = models.CharField(max_length=32, blank=True)
    # A sign-in link: the SHA-256 of its secret (the secret itself is only ever shown
    # once, to whoever created it), and when the person opened it (once).
    link_hash = models.CharField(max_length=64, blank=True, db_index=True)
    link_opened_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_poll_at"],
                name="signin_due_polls",
                condition=models.Q(status="pending", method="device_code"),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    status__in=[
                        "pending",
                        "completed",
                        "declined",
                        "expired",
                        "failed",
                        "wrong_account",
                        "cancelled",
                    ]
                ),
                name="signin_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_method_display()} sign-in {self.code} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL

    @property
    def device_code_blocked(self) -> bool:
        """Conditional Access refused this device-code sign-in (AADSTS53003)."""
        return self.method == self.Method.DEVICE_CODE and self.error == "AADSTS53003"

    @property
    def expected_description(self) -> str:
        """Whom to ask: "alice@…" or "an owner of Finance"."""
        if self.expected_group_id:
            return f"an owner of {self.expected_label}"
        return self.expected_label or self.expected_identity

    @property
    def relay_message(self) -> str:
        """What the helpdesk sends the person who is to sign in (page and API alike)."""
        if self.method == self.Method.LINK:
            return (
                f"Please open the one-time sign-in link the helpdesk sent you and sign in as "
                f"{self.expected_description}."
            )
        return (
            f"Please open {self.verification_uri} and enter the code {self.user_code} — sign "
            f"in as {self.expected_description}. Microsoft will ask whether you are signing "
            "in to Lifeboat: answer Continue only if you expected this."
        )

    def finish(self, status: str, message: str = "", **fields: object) -> bool:
        """Move from pending to a final status, once. False if it already ended."""
        moved = SignIn.objects.filter(pk=self.pk, status=self.Status.PENDING).update(
            status=status,
            message=message,
            completed_at=timezone.now(),
            next_poll_at=None,
            claimed_until=None,
            flow_ciphertext=b"",  # the device code is useless now; don't keep it
            **fields,
        )
        self.refresh_from_db()
        return moved == 1


class Tenant(models.Model):
    """A Microsoft 365 organisation the portal protects (authflow/tenants.py).

    `tenant_id` is Entra's GUID, the key every other table uses (`ProtectedObject.tenant_id`,
    `User.tenant_id`, `OperatorScope.tenant_id`). `credentials_ref` names where the app's
    client secret or certificate for this tenant is kept (an environment variable or a
    secret file's name), never the secret itself; with `client_id`, an app registered for
    this tenant alone (authflow/credentials.py). `protection` says what to protect:
    ``{"mode": "all" | "selected", "include": [ids], "exclude": [ids]}``; exclusions win.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for admin consent"
        ACTIVE = "active", "Active"
        CONSENT_MISSING = "consent_missing", "Consent withdrawn or incomplete"
        DISABLED = "disabled", "Disabled"

    tenant_id = models.UUIDField(unique=True)
    display_name = models.CharField(max_length=256, blank=True)
    domains = models.JSONField(default=list, blank=True)  # verified domains, lower case
    cloud = models.CharField(max_length=16, default="global")  # a key of portal.clouds.CLOUDS
    status = models.CharField(max_length=16, choices=Status, default=Status.PENDING)
    status_reason = models.CharField(max_length=500, blank=True)  # safe to show
    credentials_ref = models.CharField(max_length=200, blank=True)
    # The app registered for this tenant ("one per tenant"); empty: MICROSOFT_CLIENT_ID.
    client_id = models.CharField(max_length=36, blank=True)
    protection = models.JSONField(default=dict, blank=True)
    # The last Verify: {"checked_at": iso, "results": [{workload, entity, operation, ...}]}.
    verification = models.JSONField(default=dict, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    # The dedicated backup account (a UPN): a person made a member or owner of the groups
    # whose data only a signed-in person can read (group calendars), signed in once before
    # the backup windows, so those backups don't wait for each group's owners
    # (restore/backup/delegation.py). Empty: none.
    backup_account = models.CharField(max_length=320, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "active", "consent_missing", "disabled"]),
                name="tenant_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name or (self.domains[0] if self.domains else str(self.tenant_id))

    @property
    def primary_domain(self) -> str:
        return self.domains[0] if self.domains else ""

    # Connected tenants whose people may sign in (consent withdrawn stops backups, not
    # sign-ins; a tenant waiting for consent or disabled has none).
    SIGN_IN_STATUSES = ("active", "consent_missing")

    @classmethod
    def allowed_ids(cls) -> list[str]:
        """MICROSOFT_ALLOWED_TENANT_IDS, then the connected tenants people may sign in from."""
        from django.conf import settings

        connected = cls.objects.filter(status__in=cls.SIGN_IN_STATUSES).values_list(
            "tenant_id", flat=True
        )
        ids = list(settings.MICROSOFT_ALLOWED_TENANT_IDS)
        return ids + [str(t) for t in connected if str(t) not in ids]

    @classmethod
    def may_sign_in(cls, tid: str) -> bool:
        from django.conf import settings

        return (
            tid in settings.MICROSOFT_ALLOWED_TENANT_IDS
            or cls.objects.filter(tenant_id=tid, status__in=cls.SIGN_IN_STATUSES).exists()
        )


class TenantAdmin(models.Model):
    """A tenant grant: `user` administers `tenant` (role admin), or acts as helpdesk there
    (role helpdesk), and only in the tenants granted.

    A portal admin (Role.ADMIN) without any admin grant is a global admin and sees every
    tenant; a person with admin grants sees and changes only those tenants in every console
    page. A helpdesk person acts in their own tenant plus the tenants granted to them
    (an admin grant includes helpdesk there); authflow.access.helpdesk_tenant_ids.
    """

    class GrantRole(models.TextChoices):
        ADMIN = "admin", "Admin"
        HELPDESK = "helpdesk", "Helpdesk"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="tenant_grants")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="admins")
    role = models.CharField(max_length=16, choices=GrantRole.choices, default=GrantRole.ADMIN)
    granted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant"], name="one_grant_per_tenant"),
        ]

    def __str__(self) -> str:
        if self.role == self.GrantRole.HELPDESK:
            return f"{self.user} is helpdesk for {self.tenant}"
        return f"{self.user} administers {self.tenant}"
