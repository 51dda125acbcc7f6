"""Starting and finishing sign-ins: the domain operations behind the sign-in pages,
the `login` command and (later) the helpdesk pages.

Device code: `start_device_sign_in` asks Entra for a code and records a pending SignIn;
the poller (authflow/poller.py) polls it and calls `complete_device_sign_in` when
Microsoft hands over tokens. Browser: `finish_browser_sign_in` after the redirect back.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import re
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache as django_cache
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from authflow import accounts, discovery, encryption, flows, identity, principals, tokens
from authflow.models import SignIn, Tenant, TokenCache, User
from authflow.signals import device_sign_in_started, identity_signed_in
from portal import audit, permissions
from portal.graph import GraphError

logger = logging.getLogger(__name__)

# Poll a little after the interval, never before: Entra (and the sandbox) may answer
# slow_down to a poll that arrives early, and that costs five more seconds.
POLL_MARGIN = timedelta(milliseconds=50)

# How a device sign-in ends, by the standards first (RFC 8628 §3.5, RFC 6749 §5.2);
# Entra's own codes (authorization_declined, bad_verification_code, AADSTS numbers)
# refine them.
DECLINED = (
    SignIn.Status.DECLINED,
    "The sign-in was cancelled on the sign-in page. Start again if that was a mistake.",
)
EXPIRED = (
    SignIn.Status.EXPIRED,
    "The code expired before anyone used it. Start again to get a new code.",
)
ENDED = (
    SignIn.Status.FAILED,
    "This sign-in has ended: the sign-in service no longer accepts its code. Start again to "
    "get a new code.",
)
MESSAGES = {
    "access_denied": DECLINED,
    "authorization_declined": DECLINED,
    "expired_token": EXPIRED,
    "invalid_grant": ENDED,
    "bad_verification_code": ENDED,
}


# Misconfigurations Entra names by code, with what an administrator has to do.
ADVICE = {
    7000218: "The portal's app registration does not allow sign-in with a code. An "
    "administrator must set 'Allow public client flows' to Yes for the app in Microsoft Entra "
    "(App registrations → Authentication).",
    700016: "The portal's app is not known in your organisation's tenant. An administrator "
    "must register it or grant it consent there.",
    65001: "Your organisation has not consented to the permissions the portal needs. An "
    "administrator must grant admin consent (Entra → Enterprise applications → Lifeboat → "
    "Permissions).",
    90094: "These permissions need an administrator's consent. Ask an administrator to grant "
    "admin consent for Lifeboat in Microsoft Entra.",
    7000215: "The portal's client secret is wrong or expired. An administrator must update "
    "MICROSOFT_CLIENT_SECRET (or the certificate) from the app registration.",
    53003: "Your organisation's Conditional Access blocks sign-in with a code. Sign in with "
    "Microsoft in your browser instead (or, for someone else, send them a sign-in link).",
    50020: "That account belongs to another organisation than the one this portal serves.",
    50057: "That account is disabled in Microsoft Entra.",
}


def aadsts_code(description: str) -> int | None:
    match = re.search(r"AADSTS(\d+)", description or "")
    return int(match[1]) if match else None


def explain(error: str, description: str) -> str | None:
    """What a person (or their administrator) should do about an Entra error, if known."""
    code = aadsts_code(description)
    return ADVICE.get(code) if code else None


def sign_in_scopes() -> list[str]:
    return permissions.delegated_scopes()


def binding_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


MULTI_TENANT = "organizations"


def default_tenant(address: str = "") -> str:
    """The authority for self sign-in: the one allowed tenant; with several, the tenant of
    the address typed (home-realm discovery), else `organizations` where it is served.
    Raises flows.FlowError("tenant_required") when the person must say who they are."""
    allowed = Tenant.allowed_ids()
    if len(allowed) == 1:
        return allowed[0]
    if address:
        return tenant_for_address(address)
    if organizations_served():
        return MULTI_TENANT
    raise flows.FlowError(
        "tenant_required",
        "This portal serves several organisations: type your work address so it can find yours.",
    )


def organizations_served() -> bool:
    """Whether the authority serves the multi-tenant `organizations` endpoint."""
    try:
        return discovery.serves(MULTI_TENANT)
    except discovery.DiscoveryUnavailable as exc:
        raise flows.FlowError("unreachable", str(exc)) from exc


def needs_address() -> bool:
    """Whether the sign-in page must ask for a work address to find the tenant."""
    if len(Tenant.allowed_ids()) == 1:
        return False
    try:
        return not organizations_served()
    except flows.FlowError:
        return False  # unreachable: starting a sign-in will say so


_ADDRESS_DOMAIN = re.compile(r"^(?:[^@\s]+@)?((?:[a-z0-9-]+\.)+[a-z0-9-]{2,63})$", re.I)


def tenant_for_address(address: str) -> str:
    """Home-realm discovery: the allowed tenant that the address's domain belongs to."""
    match = _ADDRESS_DOMAIN.match(address.strip())
    if match is None:
        raise flows.FlowError("invalid_address", "Type a work address such as name@example.com.")
    domain = match[1].lower()
    try:
        tid = discovery.tenant_id_for_domain(domain)
    except discovery.DiscoveryUnavailable as exc:
        raise flows.FlowError("unreachable", str(exc)) from exc
    except discovery.DiscoveryError as exc:
        logger.info("Home-realm discovery for %s found nothing: %s", domain, exc)
        raise flows.FlowError(
            "unknown_domain", f"No organisation signs in with addresses at {domain}."
        ) from exc
    if not Tenant.may_sign_in(tid):
        raise flows.FlowError(
            "tenant_not_allowed",
            f"Addresses at {domain} belong to an organisation this portal does not serve.",
        )
    return tid


def self_device_code_allowed(request: HttpRequest) -> bool:
    """Whether this browser may sign itself in with a device code (the setting, and the
    networks it is limited to). A code for oneself is what device-code phishing abuses:
    whoever enters it on Microsoft's page signs in the browser that asked for it."""
    if not settings.SELF_DEVICE_CODE_SIGN_IN:
        return False
    if not settings.SELF_DEVICE_CODE_NETWORKS:
        return True
    try:
        address = ipaddress.ip_address(audit.client_ip(request) or "")
    except ValueError:
        return False
    return any(address in network for network in settings.SELF_DEVICE_CODE_NETWORKS)


def start_device_sign_in(
    *,
    started_by: User | None = None,
    request: HttpRequest | None = None,
    browser_secret: str = "",
    next_url: str = "",
    tenant: str | None = None,
    expected_identity: str = "",
    expected_group_id: str = "",
    expected_label: str = "",
    address: str = "",
) -> SignIn:
    """Get a device code from Entra and record a pending sign-in for the poller.

    Raises flows.FlowError (with a safe message) when Entra refuses.
    """
    tenant = tenant or default_tenant(address)
    flow = flows.start_device_flow(sign_in_scopes(), tenant=tenant)
    now = timezone.now()
    interval = int(flow.get("interval", 5))
    sign_in = SignIn.objects.create(
        method=SignIn.Method.DEVICE_CODE,
        flow_ciphertext=encryption.encrypt(json.dumps(flow)),
        user_code=flow["user_code"],
        verification_uri=flow["verification_uri"],
        scopes=sign_in_scopes(),
        tenant=tenant,
        expires_at=datetime.fromtimestamp(flow["expires_at"], tz=UTC),
        interval=interval,
        next_poll_at=now + timedelta(seconds=interval) + POLL_MARGIN,
        started_by=started_by,
        started_from_ip=audit.client_ip(request) if request else None,
        started_from_agent=request.headers.get("User-Agent", "")[:300] if request else "",
        correlation_id=audit.correlation_id(request),
        browser_binding=binding_hash(browser_secret) if browser_secret else "",
        next_url=next_url,
        expected_identity=expected_identity,
        expected_group_id=expected_group_id,
        expected_label=expected_label,
    )
    audit.record(
        "sign_in.started",
        request=request,
        actor=started_by,
        on_behalf_of=expected_label or expected_identity,
        target=str(sign_in.code),
        details={"method": "device_code", "tenant": tenant},
        correlation=sign_in.correlation_id,
        tenant_id=tenant_guid(tenant),  # whom it is for, not the helpdesk person's tenant
    )
    transaction.on_commit(lambda: device_sign_in_started.send(sender=SignIn, sign_in=sign_in))
    return sign_in


def audit_end(sign_in: SignIn, action: str, outcome: str, **details: Any) -> None:
    audit.record(
        action,
        actor=sign_in.started_by,
        on_behalf_of=sign_in.actual_label or sign_in.expected_label or sign_in.expected_identity,
        target=str(sign_in.code),
        outcome=outcome,
        ip=sign_in.started_from_ip,
        correlation=sign_in.correlation_id,
        details={"method": sign_in.method, **details},
        tenant_id=tenant_guid(sign_in.tenant),
    )


def ending(
    sign_in: SignIn, error: str, description: str, *, code_expires_at: float | None = None
) -> tuple[str, str]:
    """The final status and the message for a device sign-in the provider refused.
    `code_expires_at` is when the code's lifetime (the provider's expires_in) ended."""
    lifetime_end = sign_in.expires_at.timestamp()
    if code_expires_at is not None:
        lifetime_end = min(lifetime_end, code_expires_at)
    if error in ("invalid_grant", "bad_verification_code") and time.time() >= lifetime_end:
        return EXPIRED  # the code outlived its lifetime: that is expiry, whatever the code
    if advice := explain(error, description):
        return SignIn.Status.FAILED, advice
    if error in flows.CONFIGURATION_ERRORS:
        return SignIn.Status.FAILED, flows.configuration_advice(error, description)
    return MESSAGES.get(
        error,
        (SignIn.Status.FAILED, f"The sign-in service refused the sign-in ({error}). Start again."),
    )


def end_device_sign_in(
    sign_in: SignIn, error: str, description: str, *, code_expires_at: float | None = None
) -> None:
    """The provider refused for good (declined, expired, ...): end with a clear message."""
    status, message = ending(sign_in, error, description, code_expires_at=code_expires_at)
    # Each ending is logged: the portal's id for the sign-in and the error code only,
    # never the user code, the device code or a token.
    logger.info("Device sign-in %s ended: %s (%s)", sign_in.pk, status, error)
    code = aadsts_code(description)
    if sign_in.finish(status, message, error=f"AADSTS{code}" if code else error[:32]):
        actions: dict[str, str] = {
            SignIn.Status.DECLINED: "sign_in.declined",
            SignIn.Status.EXPIRED: "sign_in.expired",
        }
        action = actions.get(status, "sign_in.failed")
        audit_end(sign_in, action, "failure", error=error, description=description[:200])


UNREADABLE_FLOW = (
    "This sign-in cannot go on: the portal can no longer read its code (the token "
    "encryption keys changed). Start again; if it keeps happening, tell an administrator."
)


def end_unreadable_device_sign_in(sign_in: SignIn) -> None:
    """The stored device flow cannot be decrypted with any configured key: it can never
    be polled, so it ends (failed) instead of staying pending."""
    if sign_in.finish(SignIn.Status.FAILED, UNREADABLE_FLOW):
        audit_end(sign_in, "sign_in.failed", "failure", reason="unreadable device flow")


def expire_if_due(sign_in: SignIn) -> bool:
    if timezone.now() < sign_in.expires_at:
        return False
    end_device_sign_in(sign_in, "expired_token", "")
    return True


def complete_device_sign_in(sign_in: SignIn, result: dict[str, Any], cache: str) -> None:
    """Microsoft handed over tokens: check who it is, then keep them (or not)."""
    try:
        who = identity.validate(
            result.get("id_token", ""), audiences=[settings.MICROSOFT_PUBLIC_CLIENT_ID]
        )
    except identity.InvalidIdentityToken as exc:
        logger.warning("Device sign-in %s: id_token rejected: %s", sign_in.code, exc)
        if sign_in.finish(
            SignIn.Status.FAILED,
            "Microsoft's answer could not be verified, so nobody was signed in. "
            f"({exc}) Start again; if it keeps happening, tell an administrator.",
        ):
            audit_end(sign_in, "sign_in.failed", "failure", reason=str(exc))
        return
    if problem := wrong_account(sign_in, who):
        # Never keep tokens of an account we did not ask for: they are simply dropped.
        if sign_in.finish(
            SignIn.Status.WRONG_ACCOUNT,
            problem,
            actual_identity=who.key,
            actual_label=who.upn,
        ):
            audit_end(sign_in, "sign_in.wrong_account", "denied", actual=who.key)
        return
    with transaction.atomic():
        user = accounts.user_for(who)
        tokens.store(
            user, cache, result, method=TokenCache.Method.DEVICE_CODE, started_by=sign_in.started_by
        )
        finished = sign_in.finish(
            SignIn.Status.COMPLETED,
            f"Signed in as {who.upn}.",
            result_user=user,
            actual_identity=who.key,
            actual_label=who.upn,
        )
        if finished:
            audit_end(sign_in, "sign_in.completed", "success", identity=who.key)
            transaction.on_commit(lambda: identity_signed_in.send(sender=SignIn, user=user))


def wrong_account(sign_in: SignIn, who: identity.Identity) -> str | None:
    """Why this identity is not the one the sign-in was started for; None if it is.

    Identities are compared by oid and tid, never by UPN (mutable, reusable).
    """
    if sign_in.expected_identity and who.key != sign_in.expected_identity:
        return (
            f"{who.upn or who.key} signed in, but this sign-in was for "
            f"{sign_in.expected_label or sign_in.expected_identity}. Their tokens were discarded."
        )
    if sign_in.expected_group_id:
        # Owners can change while the code waits: ask Graph who owns the group now.
        try:
            owners = principals.group_owners(sign_in.expected_group_id, tenant_id=who.tid)
        except (GraphError, flows.FlowError):
            return (
                f"{who.upn} signed in, but the group's owners could not be checked with "
                "Microsoft Graph, so the tokens were discarded. Try again later."
            )
        if who.key not in {owner.identity for owner in owners}:
            listed = "; ".join(owner.upn for owner in owners) or "none"
            return (
                f"{who.upn or who.key} signed in, but is not an owner of "
                f"{sign_in.expected_label} (owners: {listed}). Their tokens were discarded."
            )
    return None


def start_helpdesk_sign_in(
    principal: principals.ExpectedUser | principals.ExpectedGroup,
    *,
    started_by: User | None,
    request: HttpRequest | None = None,
) -> SignIn:
    """A device-code sign-in on behalf of a user, or of any owner of a group, bound to
    them: the authority is their tenant, and whoever completes it is checked."""
    if isinstance(principal, principals.ExpectedGroup):
        return start_device_sign_in(
            started_by=started_by,
            request=request,
            tenant=principal.tenant_id,
            expected_group_id=principal.id,
            expected_label=principal.display_name,
        )
    return start_device_sign_in(
        started_by=started_by,
        request=request,
        tenant=principal.tenant_id,
        expected_identity=principal.identity,
        expected_label=principal.upn,
    )


# A pending sign-in is reused while it has this long left (else a new one is started).
REUSE_MARGIN = timedelta(minutes=2)
START_LOCK_SECONDS = 30


def pending_sign_in_for(expected: principals.ExpectedUser) -> SignIn | None:
    """A pending device-code sign-in bound to this person: the one already running, or a
    new one. One per person however many jobs and backups wait for them (a lock in the
    shared cache keeps two workers from starting two at once); None when Entra refused.
    Asks Entra over HTTP: call it with no transaction open."""

    def running() -> SignIn | None:
        return (
            SignIn.objects.filter(
                expected_identity=expected.identity,
                method=SignIn.Method.DEVICE_CODE,  # a sign-in link has no code to show
                status=SignIn.Status.PENDING,
                expires_at__gt=timezone.now() + REUSE_MARGIN,
            )
            .order_by("-created_at")
            .first()
        )

    if (found := running()) is not None:
        return found
    lock = f"authflow:sign-in-start:{expected.identity}"
    deadline = time.monotonic() + 10
    while not django_cache.add(lock, 1, START_LOCK_SECONDS):
        if (found := running()) is not None or time.monotonic() > deadline:
            return found
        time.sleep(0.1)
    try:
        if (found := running()) is not None:
            return found
        return start_helpdesk_sign_in(expected, started_by=None)
    except flows.FlowError as error:
        logger.warning("Could not start a sign-in for %s: %s", expected.identity, error)
        return None
    finally:
        django_cache.delete(lock)


def tenant_guid(tenant: str) -> uuid.UUID | None:
    """The sign-in's tenant as a GUID for the audit log (None for `organizations` etc.)."""
    try:
        return uuid.UUID(tenant)
    except (TypeError, ValueError):
        return None


def finish_browser_sign_in(
    request: HttpRequest, result: dict[str, Any], cache: str, *, nonce: str
) -> User:
    """Validate the id_token of a browser sign-in, then keep the tokens. Raises
    identity.InvalidIdentityToken if the token is not acceptable."""
    who = identity.validate(
        result.get("id_token", ""), audiences=[settings.MICROSOFT_CLIENT_ID], nonce=nonce
    )
    return keep_signed_in(who, cache, result, TokenCache.Method.BROWSER, "browser", request=request)


def keep_signed_in(
    who: identity.Identity,
    cache: str,
    result: dict[str, Any],
    method: str,
    via: str,
    *,
    request: HttpRequest | None = None,
    on_behalf_of: str = "",
) -> User:
    """Keep a validated identity's delegated tokens, audit it, and tell waiting work
    (restore jobs) once committed. `via` says how in the audit log."""
    with transaction.atomic():
        user = accounts.user_for(who)
        tokens.store(user, cache, result, method=method)
        audit.record(
            "sign_in.completed",
            request=request,
            actor=user,
            on_behalf_of=on_behalf_of,
            details={"method": via, "identity": who.key},
        )
        transaction.on_commit(lambda: identity_signed_in.send(sender=SignIn, user=user))
    return user


def new_browser_secret() -> str:
    return secrets.token_urlsafe(32)
