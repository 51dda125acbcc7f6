"""Delegated tokens per identity: stored encrypted, handed out by one function.

`access_token(user, scopes)` is what every feature calls. It returns a token with at
least `min_validity` left, refreshing through msal when needed. Refreshes of one
identity are serialised with a lease on its row (a conditional UPDATE, no transaction
held while Entra answers), so two workers never both redeem the refresh token (one
refresh, and the rotated refresh token is never lost to a last-writer-wins save). A
dead refresh token marks the identity "needs sign-in" and raises SignInRequired.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from authflow import encryption, flows
from authflow.models import TokenCache, User
from authflow.signals import access_ended_by_microsoft
from portal import audit, metrics
from portal.graph import GraphClient

logger = logging.getLogger(__name__)

# msal treats an access token with less than 5 minutes left as expired.
MSAL_EXPIRY_MARGIN = timedelta(minutes=5)
LAST_USED_RESOLUTION = timedelta(minutes=1)
# Scopes msal adds by itself and refuses to be asked for.
OIDC_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
# Errors after which the provider may work again by itself: retry later. Any other
# refusal of a refresh is final (RFC 6749 §5.2 errors, Entra's interaction_required and
# consent_required): someone must sign in, or an administrator must change the
# configuration (flows.CONFIGURATION_ERRORS).
TEMPORARY_ERRORS = {"temporarily_unavailable", "server_error"}
# Why "needs sign-in", in words, by error.
REASONS = {
    "no_account": "The portal holds no account in its token cache for this person.",
    "no_refresh_token": "The access token expired and the portal holds no refresh token: "
    "the person must sign in again.",
    "invalid_grant": "The sign-in service refused the refresh token (expired, revoked, or the "
    "password changed): the person must sign in again.",
    "interaction_required": "The sign-in service needs the person to sign in interactively "
    "again (e.g. multi-factor authentication or a changed policy).",
    "consent_required": "Consent for the portal's permissions is missing: the person (or an "
    "administrator) must consent, then sign in again.",
}


# invalid_grant codes by which Entra says the person may no longer sign in at all (not
# merely that this token is old): the portal then ends every session of theirs too.
ACCESS_ENDED = {
    "AADSTS50057": "The account is disabled in Microsoft Entra ID.",
    "AADSTS50034": "The account no longer exists in Microsoft Entra ID.",
    "AADSTS50053": "The account is locked in Microsoft Entra ID.",
    "AADSTS50173": "The account's sessions were revoked in Microsoft Entra ID "
    "(or its password was changed).",
    "AADSTS700082": "The account's grant expired in Microsoft Entra ID (unused too long).",
}


def access_ended_reason(error: str, description: str) -> str:
    """Microsoft's reason the person may no longer sign in, or "" for a lesser refusal."""
    if error != "invalid_grant":
        return ""
    code = description.split(":", 1)[0].strip()
    return ACCESS_ENDED.get(code, "")


UNREADABLE_REASON = (
    "The stored tokens cannot be decrypted: an administrator must restore the token "
    "encryption key or the person must sign in again."
)
LEASE_POLL_SECONDS = 0.1


class SignInRequired(Exception):
    """No usable delegated token for this identity: someone has to sign in (again)."""

    def __init__(self, user: User, reason: str) -> None:
        super().__init__(f"{user} needs to sign in again: {reason}")
        self.user = user
        self.reason = reason


class TokensUnavailable(Exception):
    """Microsoft could not be reached to refresh; try again later."""


class ConfigurationRefused(SignInRequired):
    """The provider refused the portal's own configuration (invalid_scope, invalid_client,
    unauthorized_client). Never temporary; `reason` says what an administrator must change."""


def resource_scopes(scope: str) -> list[str]:
    """The scopes of a token response without the OIDC ones."""
    return sorted(set(scope.split()) - OIDC_SCOPES)


def _expires_at(result: dict[str, Any]) -> datetime:
    return timezone.now() + timedelta(seconds=int(result.get("expires_in", 0)))


def store(
    user: User,
    serialized_cache: str,
    result: dict[str, Any],
    *,
    method: str,
    started_by: User | None = None,
) -> TokenCache:
    """Keep the tokens of a sign-in that just completed, merged into what is held.

    Never a regression: a sign-in that brings no refresh token keeps the valid one held
    (and the app it belongs to), and the scopes held stay listed.
    """
    now = timezone.now()
    with transaction.atomic():
        existing = TokenCache.objects.select_for_update().filter(user=user).first()
        kept = _valid_cache(existing)
        brings_refresh = bool(result.get("refresh_token"))
        keep_old_refresh = not brings_refresh and kept is not None and _has_refresh_token(kept)
        fields = {
            "ciphertext": encryption.encrypt(merge_caches(kept, serialized_cache)),
            "status": TokenCache.Status.VALID,
            "status_reason": "",
            "method": existing.method if keep_old_refresh and existing else method,
            "started_by": started_by if started_by != user else None,
            "scopes": sorted(
                set(resource_scopes(result.get("scope", "")))
                | set(existing.scopes if kept is not None and existing else [])
            ),
            "signed_in_at": now,
            "access_token_expires_at": _expires_at(result),
            "refresh_token_renewed_at": now
            if brings_refresh
            else (existing.refresh_token_renewed_at if keep_old_refresh and existing else None),
        }
        row, _ = TokenCache.objects.update_or_create(user=user, defaults=fields)
    return row


def _valid_cache(row: TokenCache | None) -> str | None:
    """The held cache if it is valid and readable (an unreadable one has nothing to keep)."""
    if row is None or row.status != TokenCache.Status.VALID or not row.ciphertext:
        return None
    try:
        return encryption.decrypt(row.ciphertext)
    except encryption.InvalidToken:
        return None


def _has_refresh_token(serialized: str) -> bool:
    return bool(json.loads(serialized or "{}").get("RefreshToken"))


def merge_caches(old: str | None, new: str) -> str:
    """msal's serialized cache `new` laid over `old`: every entry of the new sign-in wins,
    entries only the old one has (a refresh token the new sign-in did not bring) stay."""
    if not old:
        return new
    merged = json.loads(old)
    for section, entries in json.loads(new or "{}").items():
        if isinstance(entries, dict) and isinstance(merged.get(section), dict):
            merged[section].update(entries)
        else:
            merged[section] = entries
    return json.dumps(merged)


def _usable_row(user: User) -> TokenCache:
    row = TokenCache.objects.filter(user=user).first()
    if row is None:
        raise SignInRequired(user, "The portal holds no delegated tokens for this account.")
    if row.status != TokenCache.Status.VALID or not row.ciphertext:
        raise SignInRequired(user, row.status_reason or f"Tokens are {row.get_status_display()}.")
    return row


def _decrypted(row: TokenCache) -> str:
    """The serialized msal cache; an unreadable one (no configured key opens it, e.g. a
    key was rotated out before workers were restarted) marks the row unreadable and asks
    for a sign-in instead of crashing whoever needed the token."""
    try:
        return encryption.decrypt(row.ciphertext)
    except encryption.InvalidToken:
        pass
    if TokenCache.objects.filter(pk=row.pk, status=TokenCache.Status.VALID).update(
        status=TokenCache.Status.UNREADABLE, status_reason=UNREADABLE_REASON
    ):
        logger.warning("The token cache of %s cannot be decrypted", row.user.identity)
        audit.record(
            "token.unreadable",
            actor=None,
            on_behalf_of=row.user.identity,
            target=row.user.upn,
            outcome="failure",
            details={"reason": UNREADABLE_REASON},
        )
    raise SignInRequired(row.user, UNREADABLE_REASON)


def readable_again() -> list[User]:
    """Identities whose unreadable tokens the configured keys open again (an
    administrator restored the key): valid once more. Called by the restore sweep."""
    users = []
    for row in TokenCache.objects.filter(status=TokenCache.Status.UNREADABLE).select_related(
        "user"
    ):
        try:
            encryption.decrypt(row.ciphertext)
        except encryption.InvalidToken:
            continue
        if TokenCache.objects.filter(pk=row.pk, status=TokenCache.Status.UNREADABLE).update(
            status=TokenCache.Status.VALID, status_reason=""
        ):
            users.append(row.user)
    return users


@contextmanager
def _refresh_lease(row: TokenCache) -> Iterator[None]:
    """Hold the identity's refresh lease while in the block (wait for it if another
    process holds it). The lease outlives a stuck request, so a crashed holder frees it."""
    lease = timedelta(seconds=2 * settings.MICROSOFT_HTTP_TIMEOUT + 5)
    deadline = time.monotonic() + lease.total_seconds()
    while True:
        now = timezone.now()
        free = Q(refresh_lease_until__isnull=True) | Q(refresh_lease_until__lt=now)
        if TokenCache.objects.filter(free, pk=row.pk).update(refresh_lease_until=now + lease):
            break
        if time.monotonic() > deadline:
            raise TokensUnavailable("Another refresh of these tokens is still running.")
        time.sleep(LEASE_POLL_SECONDS)
    try:
        yield
    finally:
        TokenCache.objects.filter(pk=row.pk).update(refresh_lease_until=None)


def _mark_needs_sign_in(row: TokenCache, error: str, description: str, *, reason: str) -> None:
    TokenCache.objects.filter(pk=row.pk).update(
        status=TokenCache.Status.NEEDS_SIGN_IN, status_reason=reason[:300], ciphertext=b""
    )
    audit.record(
        "token.refresh_failed",
        actor=None,
        on_behalf_of=row.user.identity,
        target=row.user.upn,
        outcome="failure",
        details={"error": error, "description": description[:300]},
    )


def access_token(
    user: User,
    scopes: list[str],
    *,
    min_validity: timedelta = MSAL_EXPIRY_MARGIN,
    force_refresh: bool = False,
    claims_challenge: str | None = None,
) -> str:
    """A delegated access token for `user` and `scopes`, valid for at least `min_validity`.

    `force_refresh` gets a new one even if the cached token looks valid (Graph refused it).
    `claims_challenge` answers Graph's CAE claims challenge: a new token is asked for with
    those claims; when Entra will not give one, the person's access ends (every session,
    as identities.end_access) with Microsoft's reason.
    Raises SignInRequired (act on it: ask for a sign-in) or TokensUnavailable (retry).
    """
    row = _usable_row(user)
    cached = _decrypted(row)
    if (
        claims_challenge is None
        and not force_refresh
        and _fresh_enough(cached, scopes, min_validity)
    ):
        result, changed = _silent(row, cached, scopes, force_refresh=False)
        if changed is None and result and "access_token" in result:
            _touch(row)
            return result["access_token"]

    # A refresh is due: one at a time per identity, under a lease (a conditional UPDATE),
    # never a row lock: no database transaction stays open while Entra is asked. Whoever
    # waits for the lease reloads the cache and usually finds the token just refreshed.
    with _refresh_lease(row):
        row = _usable_row(user)
        cached = _decrypted(row)
        force = force_refresh or not _fresh_enough(cached, scopes, min_validity)
        result, changed = _silent(
            row, cached, scopes, force_refresh=force, claims_challenge=claims_challenge
        )
        if result is not None and "access_token" in result:
            _save_refreshed(row, result, changed)
            return result["access_token"]

    # Failed (the lease is given back already).
    result = result or {"error": "no_account"}
    error, description = result["error"], flows.first_line(result.get("error_description"))
    logger.info("Refresh for %s failed: %s", user.identity, error)
    metrics.count_refresh_failure(error)
    if error in TEMPORARY_ERRORS:
        raise TokensUnavailable(f"{error}: {description}")
    if error in flows.CONFIGURATION_ERRORS:
        reason = flows.configuration_advice(error, description)
        logger.error("Refresh for %s refused for the portal's configuration: %s", user, error)
        _mark_needs_sign_in(row, error, description, reason=reason)
        raise ConfigurationRefused(user, reason)
    ended = access_ended_reason(error, description)
    reason = (
        ended
        or REASONS.get(error)
        or f"The sign-in service refused to refresh the tokens ({error})."
    )
    _mark_needs_sign_in(row, error, description, reason=reason)
    if claims_challenge is not None and not ended:
        ended = reason = f"{CAE_REFUSED} {reason}"
    if ended:
        access_ended_by_microsoft.send(sender=User, user=user, reason=ended)
    raise SignInRequired(user, reason)


# Why access ends when Graph's claims challenge (CAE) cannot be answered silently.
CAE_REFUSED = (
    "Microsoft Graph refused the portal's token under continuous access evaluation (the "
    "account was disabled, its sessions revoked, or a policy changed) and no new one could "
    "be had without the person:"
)


def challenge_unanswered(user: User) -> None:
    """Graph challenged even the token obtained with its claims: nothing the portal can
    do silently. The person's access ends; raises SignInRequired."""
    reason = f"{CAE_REFUSED} Graph refused the renewed token too."
    TokenCache.objects.filter(user=user).update(
        status=TokenCache.Status.NEEDS_SIGN_IN, status_reason=reason[:300], ciphertext=b""
    )
    access_ended_by_microsoft.send(sender=User, user=user, reason=reason)
    raise SignInRequired(user, reason)


def _save_refreshed(row: TokenCache, result: dict[str, Any], changed: str | None) -> None:
    if changed is None:
        _touch(row)
        return
    now = timezone.now()
    TokenCache.objects.filter(pk=row.pk).update(
        ciphertext=encryption.encrypt(changed),
        access_token_expires_at=_expires_at(result),
        refresh_token_renewed_at=now,
        scopes=sorted(set(row.scopes) | set(resource_scopes(result.get("scope", "")))),
        last_used_at=now,
    )


def _silent(
    row: TokenCache,
    cached: str,
    scopes: list[str],
    *,
    force_refresh: bool,
    claims_challenge: str | None = None,
) -> tuple[dict[str, Any] | None, str | None]:
    try:
        return flows.acquire_silent(
            cached,
            confidential=row.method == TokenCache.Method.BROWSER,
            tenant=str(row.user.tenant_id),
            scopes=scopes,
            force_refresh=force_refresh,
            claims_challenge=claims_challenge,
        )
    except flows.TRANSIENT_ERRORS as exc:
        raise TokensUnavailable(f"Microsoft could not be reached ({type(exc).__name__})") from exc


def _fresh_enough(cached: str, scopes: list[str], min_validity: timedelta) -> bool:
    expiry = flows.cached_access_token_expiry(cached, scopes)
    margin = max(min_validity, MSAL_EXPIRY_MARGIN)
    return expiry is not None and expiry > (timezone.now() + margin).timestamp()


def _touch(row: TokenCache) -> None:
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        TokenCache.objects.filter(pk=row.pk).update(last_used_at=now)


def revoke(
    user: User, *, by: User | None, reason: str, status: str = TokenCache.Status.REVOKED
) -> bool:
    """Drop an identity's cached tokens. Later token use raises SignInRequired."""
    updated = (
        TokenCache.objects.filter(user=user)
        .exclude(ciphertext=b"", status=status)
        .update(ciphertext=b"", status=status, status_reason=reason[:300])
    )
    return updated > 0


def graph_as(user: User, scopes: list[str]) -> GraphClient:
    """A Graph client acting as `user` (delegated)."""

    def token(force: bool = False, claims: str | None = None) -> str:
        return access_token(user, scopes, force_refresh=force, claims_challenge=claims)

    return GraphClient(token, on_unanswered_challenge=lambda: challenge_unanswered(user))


def app_token_claims(tenant_id: str, *, force: bool = False) -> dict[str, Any] | None:
    """The claims of the portal's application token for Graph in `tenant_id`.

    Read without validating it (it came straight from Entra over TLS, and callers only
    decide whether to go on): None when the token is not a readable JWT.
    """
    token = flows.app_only_token(tenant_id, force=force)
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


def app_permissions(tenant_id: str, *, force: bool = False) -> frozenset[str] | None:
    """The application permissions (`roles`) of the portal's app token in `tenant_id`;
    None when unreadable (then Graph's own 403 is the answer). `force`: a token issued
    now (a token's roles are fixed when it is issued; consent may have changed since)."""
    claims = app_token_claims(tenant_id, force=force)
    if claims is None:
        return None
    roles = claims.get("roles")
    return frozenset(str(r) for r in roles) if isinstance(roles, list) else frozenset()


def graph_as_app(tenant_id: str) -> GraphClient:
    """A Graph client with the portal's application permissions in `tenant_id`."""
    # App-only tokens get no claims challenges from Graph's CAE; a new one is asked for.
    return GraphClient(
        lambda force=False, claims=None: flows.app_only_token(tenant_id, force=force)
    )
