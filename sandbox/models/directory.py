"""Entra ID directory objects of the sandbox: tenants, users, groups, apps."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

from django.db import models
from django.utils import timezone

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
GRAPH_RESOURCE = "https://graph.microsoft.com"


class TenantQuerySet(models.QuerySet["Tenant"]):
    def resolve(self, name: str) -> Tenant | None:
        """A tenant by id (GUID) or by one of its verified domains, as Entra accepts both."""
        try:
            return self.filter(id=uuid.UUID(name)).first()
        except ValueError:
            return self.filter(domains__name=name.lower()).first()


class Tenant(models.Model):
    id = models.UUIDField(primary_key=True)
    display_name = models.CharField(max_length=256)

    objects = TenantQuerySet.as_manager()

    def __str__(self) -> str:
        return self.display_name

    @property
    def default_domain(self) -> str:
        return self.domains.order_by("-is_default", "name").values_list("name", flat=True)[0]

    @property
    def issuer(self) -> str:
        """The v2.0 issuer, exactly as Entra writes it (the real host, whatever serves it)."""
        return f"https://login.microsoftonline.com/{self.id}/v2.0"


class TenantDomain(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="domains")
    name = models.CharField(max_length=253, unique=True)
    is_default = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.name


class DirectoryUser(models.Model):
    """An Entra user. `id` is the object id (the `oid` claim, Graph's user.id)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="users")
    user_principal_name = models.CharField(max_length=320, unique=True)
    display_name = models.CharField(max_length=256)
    given_name = models.CharField(max_length=128, blank=True)
    surname = models.CharField(max_length=128, blank=True)
    mail = models.CharField(max_length=320, blank=True)
    job_title = models.CharField(max_length=128, blank=True)
    department = models.CharField(max_length=128, blank=True)
    password = models.CharField(max_length=256)
    account_enabled = models.BooleanField(default=True)
    # Refresh tokens and sessions issued before this moment are revoked (Graph's
    # signInSessionsValidFromDateTime): set by revokeSignInSessions, password changes...
    sign_in_sessions_valid_from = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["user_principal_name"]

    def __str__(self) -> str:
        return self.user_principal_name

    # Sandbox passwords are printed on its sign-in page: a salted SHA-256 is enough, and
    # keeps a reset (and every test that resets) fast. Real Entra is not emulated here.
    def set_password(self, raw_password: str) -> None:
        salt = secrets.token_hex(8)
        self.password = f"{salt}${hash_secret(salt + raw_password)}"

    def check_password(self, raw_password: str) -> bool:
        salt, _, digest = self.password.partition("$")
        return hmac.compare_digest(digest, hash_secret(salt + raw_password))

    def revoke_sign_in_sessions(self) -> None:
        """Invalidate every refresh token and session of this user, as Entra does."""
        self.sign_in_sessions_valid_from = timezone.now()
        self.save(update_fields=["sign_in_sessions_valid_from"])


class Group(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="groups")
    display_name = models.CharField(max_length=256)
    description = models.TextField(blank=True)
    mail_nickname = models.CharField(max_length=64)
    mail = models.CharField(max_length=320, blank=True)
    group_types = models.JSONField(default=list)  # ["Unified"] for Microsoft 365 groups
    security_enabled = models.BooleanField(default=False)
    mail_enabled = models.BooleanField(default=True)
    owners = models.ManyToManyField(DirectoryUser, related_name="owned_groups", blank=True)
    members = models.ManyToManyField(DirectoryUser, related_name="member_of", blank=True)

    class Meta:
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Application(models.Model):
    """An app registration. Its service principals say where it is consented."""

    client_id = models.UUIDField(unique=True)
    home_tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="applications")
    display_name = models.CharField(max_length=256)
    # "Allow public client flows": device code and other secret-less grants.
    is_fallback_public_client = models.BooleanField(default=False)
    # SHA-256 of each valid client secret; PEM certificates for private_key_jwt.
    client_secret_hashes = models.JSONField(default=list, blank=True)
    certificates = models.JSONField(default=list, blank=True)
    redirect_uris = models.JSONField(default=list, blank=True)
    # The API this app exposes (api://<client id>/<scope>) and who may ask for it silently.
    identifier_uris = models.JSONField(default=list, blank=True)
    api_scopes = models.JSONField(default=list, blank=True)
    pre_authorized_client_ids = models.JSONField(default=list, blank=True)
    # App roles it defines, e.g. [{"value": "Lifeboat.Admin", "allowedMemberTypes": ["User"]}].
    app_roles = models.JSONField(default=list, blank=True)
    sign_in_audience = models.CharField(max_length=32, default="AzureADMultipleOrgs")
    # Put the user's group ids in id_tokens ("groupMembershipClaims").
    group_membership_claims = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.display_name

    @property
    def has_credentials(self) -> bool:
        return bool(self.client_secret_hashes or self.certificates)

    def check_secret(self, secret: str) -> bool:
        digest = hash_secret(secret)
        return any(hmac.compare_digest(digest, known) for known in self.client_secret_hashes)


class ServicePrincipal(models.Model):
    """An application's presence in one tenant, with what the tenant's admin consented."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)  # the `oid` of app-only tokens
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="service_principals")
    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="service_principals"
    )
    # Delegated Graph scopes an admin consented for everyone in the tenant.
    admin_consented_scopes = models.JSONField(default=list, blank=True)
    # Application permissions (Graph app roles) granted to the app itself.
    graph_app_roles = models.JSONField(default=list, blank=True)
    # Users (by object id) assigned to each of the app's roles: {"Lifeboat.Admin": [oid, ...]}.
    app_role_assignments = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "application"], name="one_sp_per_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.application} in {self.tenant}"
