"""The only module that imports msal: build the apps, start and poll flows, acquire tokens.

Everything here talks to Entra through `portal.microsoft.http_session()`. Nothing here
touches the database; callers persist what these functions return.

Research notes that matter (shared/research/identity-and-graph.md §1):
- device-code polling is one non-blocking request per call with `exit_condition`;
  msal mutates the flow (latest_attempt_at, interval on slow_down): persist it after each;
- a device-code refresh token belongs to the public client, a browser one to the
  confidential client: refresh each with the app that obtained it;
- msal only *decodes* id_tokens: authflow.identity validates them.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import msal
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.conf import settings

from portal.microsoft import MicrosoftSession, authority_url, http_session

logger = logging.getLogger(__name__)


class _DiscoveryCache(dict):
    """msal's HTTP cache, shared by every app in this process, for GETs only.

    Discovery documents are then fetched once a day instead of once per app. msal would
    also replay 429/5xx/400 answers to POSTs for up to a minute without calling Entra;
    the poller and the token function schedule their own retries (honouring
    Retry-After), so those entries are not kept: a retry really goes out.
    """

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(key, str) and key.startswith("POST "):
            return
        super().__setitem__(key, value)


_HTTP_CACHE = _DiscoveryCache()


# What talking to Entra can raise besides an error answer: network failures, 5xx (msal
# raises MsalServiceError for them), an answer that is not JSON.
TRANSIENT_ERRORS = (requests.RequestException, ValueError, msal.exceptions.MsalServiceError)


class FlowError(Exception):
    """Microsoft refused to start a flow. `error` is Entra's code; the message is safe."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error


def _client_credential() -> str | dict[str, str]:
    path = settings.MICROSOFT_CLIENT_CERTIFICATE_PATH
    if not path:
        return settings.MICROSOFT_CLIENT_SECRET or ""
    # One PEM with the private key and the certificate. Given the certificate, msal signs
    # the client assertion with PS256 and names the key by its SHA-256 thumbprint
    # (x5t#S256), as Entra recommends over SHA-1.
    pem = Path(path).read_text()
    certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
    return {
        "private_key": pem,
        "public_certificate": certificate.public_bytes(serialization.Encoding.PEM).decode(),
    }


def public_app(
    cache: msal.SerializableTokenCache | None = None,
    *,
    tenant: str | None = None,
    session: MicrosoftSession | None = None,
) -> msal.PublicClientApplication:
    return msal.PublicClientApplication(
        settings.MICROSOFT_PUBLIC_CLIENT_ID,
        authority=authority_url(tenant),
        http_client=session or http_session(),
        http_cache=_HTTP_CACHE,
        token_cache=cache if cache is not None else msal.SerializableTokenCache(),
    )


def confidential_app(
    cache: msal.SerializableTokenCache | None = None, *, tenant: str | None = None
) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        settings.MICROSOFT_CLIENT_ID,
        client_credential=_client_credential(),
        authority=authority_url(tenant),
        http_client=http_session(),
        http_cache=_HTTP_CACHE,
        token_cache=cache if cache is not None else msal.SerializableTokenCache(),
        azure_region=False,
    )


def new_cache(serialized: str | None = None) -> msal.SerializableTokenCache:
    cache = msal.SerializableTokenCache()
    if serialized:
        cache.deserialize(serialized)
    return cache


# --- Device code --------------------------------------------------------------------------


def start_device_flow(scopes: list[str], *, tenant: str | None = None) -> dict[str, Any]:
    """Ask Entra for a device code. Returns msal's flow dict (secret: holds the device code)."""
    try:
        flow = public_app(tenant=tenant).initiate_device_flow(scopes=scopes)
    except TRANSIENT_ERRORS as exc:
        raise FlowError("unreachable", "Microsoft's sign-in service could not be reached.") from exc
    if "user_code" not in flow:
        logger.warning("Device flow refused: %s", flow.get("error"))
        raise FlowError(flow.get("error", "unknown"), first_line(flow.get("error_description")))

    return flow


class PollOutcome(StrEnum):
    TOKENS = "tokens"  # signed in: `result` has the tokens, `cache` the new token cache
    PENDING = "pending"  # authorization_pending or slow_down: poll again at the interval
    REFUSED = "refused"  # a final error from Entra (declined, expired, bad code, ...)
    TRANSIENT = "transient"  # network error, 5xx or 429: retry later, flow unchanged


@dataclass
class Poll:
    outcome: PollOutcome
    flow: dict[str, Any]
    error: str = ""
    description: str = ""
    result: dict[str, Any] | None = None
    cache: str = ""
    retry_after: float | None = None
    # When the answer arrived (epoch seconds). The next poll is timed from here, not from
    # when this one was sent: Entra measures the interval between the requests it
    # *receives*, and a request that waited in a queue on the way must not make the next
    # one look early.
    answered_at: float = field(default_factory=time.time)


def poll_device_flow(
    flow: dict[str, Any], *, tenant: str | None, session: MicrosoftSession
) -> Poll:
    """Send exactly one token request for a device flow (non-blocking)."""
    app = public_app(tenant=tenant, session=session)
    try:
        result = app.acquire_token_by_device_flow(flow, exit_condition=lambda _flow: True)
    except TRANSIENT_ERRORS as exc:
        return Poll(
            PollOutcome.TRANSIENT,
            flow,
            error=type(exc).__name__,
            retry_after=session.last_retry_after,
        )
    if "access_token" in result:
        return Poll(PollOutcome.TOKENS, flow, result=result, cache=app.token_cache.serialize())
    error = result.get("error", "")
    description = first_line(result.get("error_description"))
    if error in ("authorization_pending", "slow_down"):
        return Poll(PollOutcome.PENDING, flow, error=error)
    if session.last_retry_after is not None or error == "temporarily_unavailable":
        return Poll(
            PollOutcome.TRANSIENT,
            flow,
            error=error,
            description=description,
            retry_after=session.last_retry_after,
        )
    return Poll(PollOutcome.REFUSED, flow, error=error, description=description)


# --- Authorization code with PKCE (browser) -----------------------------------------------


def start_auth_code_flow(
    scopes: list[str], *, redirect_uri: str, login_hint: str | None = None
) -> dict[str, Any]:
    """Returns msal's flow dict (secret: code_verifier, nonce); flow["auth_uri"] is where to go."""
    return confidential_app().initiate_auth_code_flow(
        scopes,
        redirect_uri=redirect_uri,
        login_hint=login_hint,
        response_mode="form_post",
        prompt="select_account",
    )


def finish_auth_code_flow(
    flow: dict[str, Any], auth_response: dict[str, str]
) -> tuple[dict[str, Any], str]:
    """Redeem the code. Returns (msal result, serialized token cache).

    Raises ValueError when `state` doesn't match the flow and RuntimeError when the nonce
    doesn't (msal's own checks); a result with "error" when Entra refused.
    """
    cache = new_cache()
    result = confidential_app(cache).acquire_token_by_auth_code_flow(flow, auth_response)
    return result, cache.serialize()


def redeem_refresh_token(
    refresh_token: str, scopes: list[str], *, tenant: str
) -> tuple[dict[str, Any], str]:
    """Adopt a refresh token obtained elsewhere (a restore operator's script signed in with
    the portal's public client) by redeeming it once. Returns (msal result, serialized
    cache); the result has "error" when Entra refuses (e.g. issued to another app)."""
    cache = new_cache()
    try:
        result = public_app(cache, tenant=tenant).acquire_token_by_refresh_token(
            refresh_token, scopes
        )
    except TRANSIENT_ERRORS as exc:
        raise FlowError("unreachable", "Microsoft's sign-in service could not be reached.") from exc
    return result, cache.serialize()


# --- Silent acquisition and app-only tokens ----------------------------------------------------


def acquire_silent(
    serialized_cache: str,
    *,
    confidential: bool,
    tenant: str,
    scopes: list[str],
    force_refresh: bool = False,
) -> tuple[dict[str, Any] | None, str | None]:
    """Get an access token from the cache, refreshing it if msal sees the need.

    Returns (result, new serialized cache or None when unchanged). `result` is None when
    the cache holds no account; a dict with "error" when the refresh failed.
    Raises one of TRANSIENT_ERRORS on network errors and 5xx.
    """
    cache = new_cache(serialized_cache)
    app = (
        confidential_app(cache, tenant=tenant) if confidential else public_app(cache, tenant=tenant)
    )
    accounts = app.get_accounts()
    if not accounts:
        return None, None
    result = app.acquire_token_silent_with_error(scopes, accounts[0], force_refresh=force_refresh)
    return result, (cache.serialize() if cache.has_state_changed else None)


_app_only: dict[str, msal.ConfidentialClientApplication] = {}


def app_only_token(tenant_id: str, *, force: bool = False) -> str:
    """An application token for Graph in `tenant_id` (client credentials), cached by msal.

    `force` drops the cached one (Graph refused it) and asks Entra for a new token.
    """
    if force:
        _app_only.pop(tenant_id, None)
    app = _app_only.get(tenant_id)
    if app is None:
        app = _app_only.setdefault(tenant_id, confidential_app(tenant=tenant_id))
    result = app.acquire_token_for_client(["https://graph.microsoft.com/.default"])
    if "access_token" not in result:
        logger.warning("App-only token refused: %s", result.get("error"))
        raise FlowError(result.get("error", "unknown"), first_line(result.get("error_description")))
    return result["access_token"]


def forget_app_only_tokens() -> None:
    """Drop every tenant's cached app-only token: the next call asks Entra for a new one,
    with the application permissions granted now (a token's `roles` are fixed when issued)."""
    _app_only.clear()


def cached_access_token_expiry(serialized_cache: str, scopes: list[str]) -> float | None:
    """When the cached access token covering `scopes` expires (epoch seconds), if any."""
    wanted = {s.lower() for s in scopes}
    best: float | None = None
    for entry in json.loads(serialized_cache or "{}").get("AccessToken", {}).values():
        if wanted <= set(entry.get("target", "").lower().split()):
            expires = float(entry.get("expires_on", 0))
            best = expires if best is None else max(best, expires)
    return best


def first_line(description: str | None) -> str:
    """Entra's description without its trace and correlation ids (safe to show)."""
    return (description or "").split("\r\n")[0].split("\n")[0]
