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
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from authflow import credentials, discovery, flows, tokens
from authflow.models import Tenant
from portal import audit, clouds, permissions
from portal.graph import GraphClient, GraphError

if TYPE_CHECKING:
    from django.http import HttpRequest

    from authflow.models import User

logger = logging.getLogger(__name__)

_DOMAIN = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class TenantError(Exception):
    """Bad input or a refusal about a tenant; the message is safe to show."""


class TenantNotFound(TenantError):
    """No connected tenant is what was named (or none the person may act in)."""


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
        configuration = discovery.configuration(value)
        found = configuration.tenant_id
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
    refuse_other_cloud(value, configuration.cloud_instance_name)
    return found, [value] if kind == "domain" else []


def refuse_other_cloud(value: str, instance_name: str | None) -> None:
    """A portal serves one Microsoft cloud (MICROSOFT_CLOUD): a tenant whose discovery
    document names another cloud's instance is refused, saying which. A document without
    `cloud_instance_name` (a custom OpenID provider) is taken as the configured cloud."""
    configured = clouds.CLOUDS[settings.MICROSOFT_CLOUD]
    if not instance_name or instance_name == configured.instance_name:
        return
    theirs = [c.name for c in clouds.CLOUDS.values() if c.instance_name == instance_name]
    where = f"MICROSOFT_CLOUD={' or '.join(theirs)}" if theirs else "a cloud Lifeboat does not know"
    raise TenantError(
        f"{value} is in another Microsoft cloud: its sign-in configuration says "
        f"cloud_instance_name {instance_name}, and this portal is configured for "
        f"MICROSOFT_CLOUD={configured.name} ({configured.instance_name}). A portal serves "
        f"one cloud: connect this tenant from a portal with {where}."
    )


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


CREDENTIALS_MISSING = "credentials missing:"


def note_credentials() -> list[int]:
    """Check every active tenant's credentials reference (no HTTP): one that names
    nothing set gets the reason "credentials missing: NAME not set" (audited once), and
    loses it once the reference resolves again. The pks of the tenants without."""
    missing = []
    for tenant in all_tenants().filter(status=Tenant.Status.ACTIVE):
        problem = credentials.problem(tenant)
        if problem:
            missing.append(tenant.pk)
            if set_status(tenant, tenant.status, problem):
                logger.warning("Tenant %s is not backed up: %s", tenant.tenant_id, problem)
        elif tenant.status_reason.startswith(CREDENTIALS_MISSING):
            set_status(tenant, tenant.status, "")
    return missing


def active() -> QuerySet[Tenant]:
    """The tenants backed up now: status active, with credentials that resolve (a tenant
    whose credentials are missing is skipped, its status saying why)."""
    skipped = note_credentials()
    return all_tenants().filter(status=Tenant.Status.ACTIVE).exclude(pk__in=skipped)


def active_ids() -> list[uuid.UUID]:
    return list(active().values_list("tenant_id", flat=True))


def find(text: str) -> Tenant:
    """A connected tenant by its id or one of its domains. Raises TenantError."""
    kind, value = parse(text)
    tenants = all_tenants()
    if kind == "id":
        found = tenants.filter(tenant_id=value).first()
    else:  # a few rows; JSON containment is not portable (SQLite in the demo)
        found = next((t for t in tenants if value in t.domains), None)
    if found is None and kind == "domain":
        try:
            tenant_id, _ = resolve(value)
        except TenantError:
            tenant_id = ""
        found = tenants.filter(tenant_id=tenant_id).first() if tenant_id else None
    if found is None:
        raise TenantNotFound(f"No connected tenant is {value}; `manage.py tenant list` shows them.")
    return found


def add(
    text: str,
    *,
    display_name: str = "",
    credentials_ref: str = "",
    client_id: str = "",
    by: User | None = None,
    request: HttpRequest | None = None,
) -> Tenant:
    """Connect a tenant (waiting for admin consent). Raises TenantError, writing nothing.

    `client_id` is the app registered for this tenant alone (empty: the configured one);
    `credentials_ref` names the environment variable holding its secret or certificate
    path (authflow/credentials.py)."""
    if credentials_ref and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,199}", credentials_ref):
        raise TenantError(
            "The credentials reference names an environment variable (NAME, or NAME_FILE "
            "set to a secret file): letters, digits and _, never the secret itself."
        )
    if client_id:
        try:
            client_id = str(uuid.UUID(client_id.strip()))
        except ValueError:
            raise TenantError(
                f"{client_id.strip()!r} is not a client id: an app's client id is a GUID."
            ) from None
    tenant_id, domains = resolve(text)  # HTTP, before any transaction
    ensure_first()  # the configured tenant stays the first one, backed up as before
    with transaction.atomic():
        if Tenant.objects.filter(tenant_id=tenant_id).exists():
            raise TenantError(f"Tenant {tenant_id} is already connected.")
        tenant = Tenant.objects.create(
            tenant_id=tenant_id,
            domains=domains,
            display_name=display_name[:256],
            cloud=settings.MICROSOFT_CLOUD,
            credentials_ref=credentials_ref or _configured_credentials(),
            client_id=client_id,
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


# --- Admin consent and Verify ----------------------------------------------------------

CONSENT_PATH = "/admin/tenants/consent"


def consent_redirect_uri() -> str:
    """Where Entra sends the admin back (registered on the app as a web redirect URI)."""
    return f"{settings.PORTAL_URL}{CONSENT_PATH}"


def client_id_of(tenant_id: str) -> str:
    """The client id of the app used in the tenant: its own, else MICROSOFT_CLIENT_ID."""
    own = Tenant.objects.filter(tenant_id=tenant_id).values_list("client_id", flat=True).first()
    return own or settings.MICROSOFT_CLIENT_ID


def consent_url(tenant: Tenant, state: str) -> str:
    """Entra's v2 admin consent URL for this tenant: `/.default` asks for exactly the
    permissions the app registration lists, which portal/permissions.py generates.

    Its base is the tenant's authorize endpoint from the validated discovery document
    (`…/{tenant}/oauth2/v2.0/authorize` → `…/{tenant}/v2.0/adminconsent`), the
    browser-facing host the cloud (or the sandbox) publishes. Raises TenantError."""
    try:
        authorize = discovery.configuration(str(tenant.tenant_id)).authorization_endpoint
    except discovery.DiscoveryError as exc:
        raise TenantError(f"The tenant's sign-in configuration could not be read: {exc}") from exc
    base, found, _ = authorize.partition("/oauth2/v2.0/authorize")
    if not found:
        raise TenantError(f"Unexpected authorize endpoint {authorize}: no admin consent URL.")
    query = urlencode(
        {
            "client_id": client_id_of(str(tenant.tenant_id)),
            "scope": permissions.admin_consent_scope(settings.MICROSOFT_GRAPH_RESOURCE),
            "redirect_uri": consent_redirect_uri(),
            "state": state,
        }
    )
    return f"{base}/v2.0/adminconsent?{query}"


@dataclass(frozen=True)
class Check:
    """One workload operation after Verify: works, missing (named permissions), or not
    enabled in this portal."""

    workload: str
    entity: str
    operation: str
    type: str
    scopes: tuple[str, ...]
    status: str  # "works" | "missing" | "not_enabled"
    missing: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.workload} ({self.entity}) {self.operation}"

    def as_dict(self) -> dict[str, object]:
        return {
            "workload": self.workload,
            "entity": self.entity,
            "operation": self.operation,
            "type": self.type,
            "scopes": list(self.scopes),
            "status": self.status,
            "missing": list(self.missing),
        }


@dataclass(frozen=True)
class Granted:
    application: frozenset[str]
    delegated: frozenset[str] | None  # None: could not be read
    source: str  # how the application permissions were read
    display_name: str = ""
    domains: tuple[str, ...] = ()


def _organization(graph: GraphClient) -> tuple[str, tuple[str, ...]]:
    """The tenant's display name and verified domains (Graph /organization), or nothing
    if they cannot be read."""
    try:
        found = graph.get("organization", **{"$select": "displayName,verifiedDomains"})["value"]
    except GraphError:
        return "", ()
    if not found:
        return "", ()
    listed = [d for d in found[0].get("verifiedDomains", []) if d.get("name")]
    # The default domain first, then the others by name.
    listed.sort(key=lambda d: (not d.get("isDefault"), d["name"].lower()))
    domains = [d["name"].lower() for d in listed]
    return found[0].get("displayName") or "", tuple(domains)


def _granted(tenant_id: str) -> Granted:
    """What the tenant granted the app, read through Graph (HTTP; no transaction)."""
    flows.app_only_token(tenant_id, force=True)  # a token issued now carries today's roles
    graph = tokens.graph_as_app(tenant_id)
    try:
        ours = graph.get(
            "servicePrincipals", **{"$filter": f"appId eq '{client_id_of(tenant_id)}'"}
        )["value"]
        microsoft_graph = graph.get(
            "servicePrincipals", **{"$filter": f"appId eq '{permissions.GRAPH_APP_ID}'"}
        )["value"]
    except GraphError as exc:
        if exc.status != 403:
            raise
        # Without Application.Read.All: the app token's own `roles` say the same.
        roles = tokens.app_permissions(tenant_id) or frozenset()
        return Granted(frozenset(roles), None, "token", *_organization(graph))
    if not ours or not microsoft_graph:
        raise TenantError("The app has no service principal in this tenant: consent first.")
    sp_id, graph_sp = ours[0]["id"], microsoft_graph[0]
    names = {role["id"]: role["value"] for role in graph_sp.get("appRoles", [])}
    assignments = graph.iterate(f"servicePrincipals/{sp_id}/appRoleAssignments")
    application = frozenset(
        names[a["appRoleId"]]
        for a in assignments
        if a.get("resourceId") == graph_sp["id"] and a.get("appRoleId") in names
    )
    try:
        grants = list(
            graph.iterate("oauth2PermissionGrants", **{"$filter": f"clientId eq '{sp_id}'"})
        )
    except GraphError as exc:
        if exc.status != 403:
            raise
        return Granted(application, None, "appRoleAssignments", *_organization(graph))
    delegated = frozenset(
        scope
        for grant in grants
        if grant.get("consentType") == "AllPrincipals" and grant.get("resourceId") == graph_sp["id"]
        for scope in (grant.get("scope") or "").split()
    )
    return Granted(application, delegated, "appRoleAssignments", *_organization(graph))


def checks(granted: Granted) -> list[Check]:
    """Every row of the permission table against what was granted."""
    found = []
    for key, rule in permissions.TABLE.items():
        workload, entity, operation = key
        missing: tuple[str, ...] = ()
        if key not in permissions.IN_USE:
            status, missing = "not_enabled", ()
        else:
            held = granted.application if not rule.is_delegated else granted.delegated
            if held is None:  # delegated consent unreadable: name what would tell
                missing = ("Directory.Read.All (to read the delegated consent)",)
            else:
                missing = tuple(permissions.missing_permissions(rule, held))
            status = "missing" if missing else "works"
        found.append(
            Check(workload, entity, operation, rule.type.value, rule.scopes, status, missing)
        )
    return found


def verify(tenant: Tenant, *, by: User | None = None) -> list[Check]:
    """Read what the tenant granted and record, per workload and operation, whether it
    works. A tenant whose app token or discovery permissions are gone becomes
    "consent missing"; consent back makes it active. HTTP first, then one write."""
    try:
        granted = _granted(str(tenant.tenant_id))
    except flows.FlowError as exc:
        _record(tenant, [], Tenant.Status.CONSENT_MISSING, f"No app token: {exc}", by)
        raise TenantError(
            f"The tenant gave the portal no application token: {exc}. Has its admin "
            "consented (or withdrawn the consent)?"
        ) from exc
    except tokens.TokensUnavailable as exc:
        raise TenantError(str(exc)) from exc
    except GraphError as exc:
        raise TenantError(f"Microsoft Graph could not be read: {exc}") from exc
    results = checks(granted)
    discover = next(c for c in results if (c.workload, c.operation) == ("directory", "discover"))
    missing = [c for c in results if c.status == "missing"]
    status: str
    if discover.status == "missing":
        status, reason = (
            Tenant.Status.CONSENT_MISSING,
            f"Discovery needs {', '.join(discover.missing)}.",
        )
    else:
        status = Tenant.Status.ACTIVE if tenant.status != Tenant.Status.DISABLED else tenant.status
        reason = (
            "Missing: " + "; ".join(f"{c.label}: {', '.join(c.missing)}" for c in missing)
            if missing
            else ""
        )
    _record(tenant, results, status, reason, by, granted)
    return results


def _record(
    tenant: Tenant,
    results: list[Check],
    status: str,
    reason: str,
    by: User | None,
    granted: Granted | None = None,
) -> None:
    now = timezone.now()
    known: dict[str, object] = {}
    if granted is not None and granted.domains:
        known["domains"] = list(granted.domains)
    if granted is not None and granted.display_name and not tenant.display_name:
        known["display_name"] = granted.display_name[:256]
    with transaction.atomic():
        Tenant.objects.filter(pk=tenant.pk).update(
            verification={"checked_at": now.isoformat(), "results": [c.as_dict() for c in results]},
            verified_at=now,
            **known,
        )
        set_status(tenant, status, reason)
        audit.record(
            "tenant.verified",
            actor=by,
            target=str(tenant.tenant_id),
            tenant_id=tenant.tenant_id,
            outcome="success" if status == Tenant.Status.ACTIVE and not reason else "failure",
            details={"status": status, "missing": reason[:500]},
        )
    tenant.refresh_from_db()


def blocking(results: list[Check]) -> list[Check]:
    """The checks that fail: `manage.py tenant verify` exits non-zero while any does."""
    return [c for c in results if c.status == "missing"]


# --- What to protect --------------------------------------------------------------------

MODES = ("all", "selected")


@dataclass(frozen=True)
class Entry:
    """A user or a Microsoft 365 group of the tenant, as the chooser lists it."""

    kind: str  # "user" | "group"
    id: str
    name: str
    address: str
    has_mailbox: bool


def directory(tenant: Tenant) -> list[Entry]:
    """The tenant's users (with whether they have a mailbox) and Microsoft 365 groups
    (their team sites and drives), read through Graph. HTTP; no transaction."""
    graph = tokens.graph_as_app(str(tenant.tenant_id))
    try:
        users = graph.iterate(
            "users", **{"$select": "id,displayName,userPrincipalName,mail", "$top": "999"}
        )
        entries = [
            Entry(
                "user",
                u["id"],
                u.get("displayName") or u.get("userPrincipalName", ""),
                u.get("userPrincipalName", ""),
                bool(u.get("mail")),
            )
            for u in users
        ]
        groups = graph.iterate(
            "groups",
            **{
                "$filter": "groupTypes/any(c:c eq 'Unified')",
                "$select": "id,displayName,mail",
                "$top": "999",
            },
        )
        entries += [
            Entry("group", g["id"], g.get("displayName", ""), g.get("mail") or "", True)
            for g in groups
        ]
    except GraphError as exc:
        raise TenantError(f"The tenant's users and groups could not be listed: {exc}") from exc
    except (flows.FlowError, tokens.TokensUnavailable) as exc:
        raise TenantError(f"No application token for the tenant: {exc}") from exc
    return sorted(entries, key=lambda e: (e.kind != "user", e.name.lower()))


def set_protection(
    tenant: Tenant,
    *,
    mode: str,
    include: list[str],
    exclude: list[str],
    by: User | None = None,
    request: HttpRequest | None = None,
) -> dict[str, object]:
    """Save what to protect (applied by the next discovery). Every id must be one of the
    tenant's users or groups now. Raises TenantError, writing nothing."""
    if mode not in MODES:
        raise TenantError("Choose to protect everyone, or only the users and groups selected.")
    known = {entry.id: entry for entry in directory(tenant)}  # HTTP, before the transaction
    unknown = [i for i in [*include, *exclude] if i not in known]
    if unknown:
        raise TenantError(
            f"{len(unknown)} of the chosen ids are no user or group of {tenant}: "
            + ", ".join(unknown[:5])
        )
    if mode == "selected" and not include:
        raise TenantError("Select at least one user or group to protect, or protect everyone.")

    def listed(ids: list[str]) -> list[dict[str, str]]:
        return [{"kind": known[i].kind, "id": i, "name": known[i].name} for i in dict.fromkeys(ids)]

    included = listed(include) if mode == "selected" else []
    excluded = listed(exclude)
    protection: dict[str, object] = {"mode": mode, "include": included, "exclude": excluded}
    with transaction.atomic():
        Tenant.objects.filter(pk=tenant.pk).update(protection=protection)
        audit.record(
            "tenant.protection",
            request=request,
            actor=by,
            target=str(tenant.tenant_id),
            tenant_id=tenant.tenant_id,
            details={
                "mode": mode,
                "include": [e["name"] for e in included][:50],
                "exclude": [e["name"] for e in excluded][:50],
            },
        )
    tenant.refresh_from_db()
    return protection
