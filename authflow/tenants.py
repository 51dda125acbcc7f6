"""The organisations the portal protects: `Tenant` rows, and the first one from settings.

`MICROSOFT_TENANT_ID` keeps working: while no tenant is connected, the first call that
asks for tenants creates that one, active (a GUID as is; a domain resolved through the
cloud's OpenID discovery document). Everything that loops over tenants (discovery,
backups) asks `active()`; everything that shows or changes a tenant's data asks
`access.tenant_ids_of(person)` which ones that person may see.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet

from authflow import discovery
from authflow.models import Tenant
from portal import audit

if TYPE_CHECKING:
    from django.http import HttpRequest

    from authflow.models import User

logger = logging.getLogger(__name__)

_DOMAIN = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class TenantError(Exception):
    """Bad input or a refusal about a tenant; the message is safe to show."""


def parse(text: str) -> tuple[str, str]:
    """("id", guid) or ("domain", domain) from what an admin typed. Raises TenantError."""
    value = text.strip().lower()
    if not value:
        raise TenantError("Give the tenant's id (a GUID) or one of its domains.")
    if "." not in value:
        try:
            return "id", str(uuid.UUID(value))
        except ValueError:
            raise TenantError(
                f"{text.strip()!r} is not a tenant id: a tenant id is a GUID such as "
                "5b7c2f1e-8d4a-4c3b-9e6f-1a2b3c4d5e6f (or give one of its domains)."
            ) from None
    if not _DOMAIN.match(value):
        raise TenantError(f"{text.strip()!r} is neither a tenant id (a GUID) nor a domain name.")
    return "domain", value


def resolve(text: str) -> tuple[str, list[str]]:
    """The tenant's GUID and the domain typed (if any), asking the cloud's authority.

    A domain is looked up through its OpenID discovery document; a GUID is checked the
    same way, so a mistyped id is refused before anything is written. HTTP: call it
    outside any transaction."""
    kind, value = parse(text)
    try:
        found = discovery.configuration(value).tenant_id
    except discovery.DiscoveryUnavailable as exc:
        raise TenantError(str(exc)) from exc
    except discovery.DiscoveryError as exc:
        logger.info("No tenant found for %s: %s", value, exc)
        what = "domain" if kind == "domain" else "tenant id"
        raise TenantError(
            f"Microsoft knows no organisation with the {what} {value} "
            f"(no sign-in configuration at {settings.MICROSOFT_AUTHORITY_HOST})."
        ) from exc
    if not found:
        raise TenantError(f"{value} does not name a single organisation.")
    return found, [value] if kind == "domain" else []


def ensure_first() -> None:
    """Create the tenant MICROSOFT_TENANT_ID names while none is connected."""
    if Tenant.objects.exists() or not settings.MICROSOFT_TENANT_ID:
        return
    configured = settings.MICROSOFT_TENANT_ID
    domains: list[str] = []
    try:
        tenant_id = str(uuid.UUID(configured))
    except ValueError:
        tenant_id, domains = resolve(configured)
    try:
        with transaction.atomic():
            Tenant.objects.create(
                tenant_id=tenant_id,
                domains=domains,
                cloud=settings.MICROSOFT_CLOUD,
                status=Tenant.Status.ACTIVE,
                credentials_ref=_configured_credentials(),
            )
    except IntegrityError:
        pass  # another process created it first


def _configured_credentials() -> str:
    if getattr(settings, "MICROSOFT_CLIENT_CERTIFICATE_PATH", None):
        return "MICROSOFT_CLIENT_CERTIFICATE_PATH"
    return "MICROSOFT_CLIENT_SECRET"


def all_tenants() -> QuerySet[Tenant]:
    ensure_first()
    return Tenant.objects.all()


def active() -> QuerySet[Tenant]:
    """The tenants backed up now (status active)."""
    return all_tenants().filter(status=Tenant.Status.ACTIVE)


def active_ids() -> list[uuid.UUID]:
    return list(active().values_list("tenant_id", flat=True))


def find(text: str) -> Tenant:
    """A connected tenant by its id or one of its domains. Raises TenantError."""
    kind, value = parse(text)
    tenants = all_tenants()
    found = (
        tenants.filter(tenant_id=value).first()
        if kind == "id"
        else tenants.filter(Q(domains__contains=[value])).first()
    )
    if found is None:
        raise TenantError(f"No connected tenant is {value}; `manage.py tenant list` shows them.")
    return found


def add(
    text: str,
    *,
    display_name: str = "",
    credentials_ref: str = "",
    by: User | None = None,
    request: HttpRequest | None = None,
) -> Tenant:
    """Connect a tenant (waiting for admin consent). Raises TenantError, writing nothing."""
    if credentials_ref and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_./-]{0,199}", credentials_ref):
        raise TenantError(
            "The credentials reference names an environment variable or secret file "
            "(letters, digits, _ . / -), never the secret itself."
        )
    tenant_id, domains = resolve(text)  # HTTP, before any transaction
    with transaction.atomic():
        if Tenant.objects.filter(tenant_id=tenant_id).exists():
            raise TenantError(f"Tenant {tenant_id} is already connected.")
        tenant = Tenant.objects.create(
            tenant_id=tenant_id,
            domains=domains,
            display_name=display_name[:256],
            cloud=settings.MICROSOFT_CLOUD,
            credentials_ref=credentials_ref or _configured_credentials(),
        )
        audit.record(
            "tenant.added",
            request=request,
            actor=by,
            target=str(tenant_id),
            tenant_id=tenant_id,
            details={"domains": domains},
        )
    return tenant


def set_status(tenant: Tenant, status: str, reason: str = "") -> bool:
    """Change a tenant's status; audited when it changes. Whether it changed."""
    changed = (
        Tenant.objects.filter(pk=tenant.pk)
        .exclude(status=status, status_reason=reason[:500])
        .update(status=status, status_reason=reason[:500])
    )
    tenant.refresh_from_db()
    if changed:
        audit.record(
            "tenant.status",
            target=str(tenant.tenant_id),
            tenant_id=tenant.tenant_id,
            details={"status": status, "reason": reason[:500]},
        )
    return bool(changed)
