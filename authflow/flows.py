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
from typing import Any

import msal
import requests
from django.conf import settings

from authflow import credentials, discovery
from portal.microsoft import (
    LeanSession,
    MicrosoftSession,
    TLSFailure,
    authority_url,
    graph_scope,
    http_session,
)

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
# The same without ValueError, where msal also raises that for a state mismatch.
NETWORK_ERRORS = (requests.RequestException, msal.exceptions.MsalServiceError)


class FlowError(Exception):
    """Microsoft refused to start a flow. `error` is Entra's code; the message is safe."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error


# OAuth 2.0 errors that say the portal's own configuration is wrong (RFC 6749 §5.2): no
# retry and no new sign-in fixes them, an administrator has to change something.
CONFIGURATION_ERRORS = frozenset({"invalid_scope", "invalid_client", "unauthorized_client"})
CONFIGURATION_ADVICE = {
    "invalid_scope": "The identity provider refused the scopes the portal asks for. An "
    "administrator must grant the portal's app those permissions (or check MICROSOFT_CLOUD: "
    "Graph scopes are qualified with that cloud's Graph resource).",
    "invalid_client": "The identity provider does not accept the portal's client credentials. "
    "An administrator must check MICROSOFT_CLIENT_ID and the client secret or certificate.",
    "unauthorized_client": "The portal's app is not allowed to use this kind of sign-in. An "
    "administrator must allow it in the app's registration (e.g. public client flows for "
    "sign-in with a code).",
}


def configuration_advice(error: str, description: str) -> str:
    """What an administrator must change for a configuration error (shown to admins)."""
    detail = first_line(description)
    return f"{CONFIGURATION_ADVICE[error]} ({error}{': ' + detail if detail else ''})"


def unreachable(exc: Exception) -> FlowError:
    """A FlowError for a network failure; a TLS failure says so, naming the host."""
    if isinstance(exc, TLSFailure):
        return FlowError("tls", str(exc))
    return FlowError("unreachable", "Microsoft's sign-in service could not be reached.")


def tenant_configuration(tenant: str) -> discovery.Configuration:
    """The tenant's validated discovery document, or a FlowError saying what is wrong."""
    try:
        return discovery.configuration(tenant)
    except discovery.DiscoveryUnavailable as exc:
        raise FlowError("unreachable", str(exc)) from exc
    except discovery.DiscoveryError as exc:
        logger.error("Sign-in refused, discovery document of %s unusable: %s", tenant, exc)
        raise FlowError("discovery", f"Sign-in is not possible: {exc}") from exc


def _authority_options() -> dict[str, Any]:
    """msal's options for the kind of authority: Microsoft's clouds get instance
    discovery and authority validation; a custom OpenID provider has neither (it serves
    no /common/discovery/instance, so msal must not ask it)."""
    if settings.MICROSOFT_AUTHORITY_KIND == "microsoft":
        return {"validate_authority": True, "instance_discovery": True}
    return {"validate_authority": False, "instance_discovery": False}


def _client_credential() -> str | dict[str, str]:
    path = settings.MICROSOFT_CLIENT_CERTIFICATE_PATH
    if not path:
        return settings.MICROSOFT_CLIENT_SECRET or ""
    return credentials.certificate_credential(path)


# The client capabilities the portal declares to Entra: cp1 says it understands claims
# challenges, so Graph applies continuous access evaluation (CAE) to its tokens and
# refuses one at once when the account is disabled or its sessions revoked
# (portal/graph.py answers the challenge; docs/sign-in-security.md).
CLIENT_CAPABILITIES = ["cp1"]


def public_app(
    cache: msal.SerializableTokenCache | None = None,
    *,
    tenant: str | None = None,
    session: MicrosoftSession | LeanSession | None = None,
) -> msal.PublicClientApplication:
    return msal.PublicClientApplication(
        settings.MICROSOFT_PUBLIC_CLIENT_ID,
        authority=authority_url(tenant),
        http_client=session or http_session(),
        http_cache=_HTTP_CACHE,
        token_cache=cache if cache is not None else msal.SerializableTokenCache(),
        client_capabilities=CLIENT_CAPABILITIES,
        **_authority_options(),
    )


def confidential_app(
    cache: msal.SerializableTokenCache | None = None,
    *,
    tenant: str | None = None,
    app: credentials.AppCredentials | None = None,
) -> msal.ConfidentialClientApplication:
    """The portal's confidential client; `app`: a tenant's own app or credentials."""
    credential = app.credential if app is not None else None
    return msal.ConfidentialClientApplication(
        app.client_id if app is not None else settings.MICROSOFT_CLIENT_ID,
        client_credential=credential if credential is not None else _client_credential(),
        authority=authority_url(tenant),
        http_client=http_session(),
        http_cache=_HTTP_CACHE,
        token_cache=cache if cache is not None else msal.SerializableTokenCache(),
        azure_region=False,
        client_capabilities=CLIENT_CAPABILITIES,
        **_authority_options(),
    )


def new_cache(serialized: str | None = None) -> msal.SerializableTokenCache:
    cache = msal.SerializableTokenCache()
    if serialized:
        cache.deserialize(serialized)
    return cache


# --- Device code --------------------------------------------------------------------------


def start_device_flow(scopes: list[str], *, tenant: str | None = None) -> dict[str, Any]:
    """Ask Entra for a device code. Returns msal's flow dict (secret: holds the device code)."""
    config = tenant_configuration(tenant or settings.MICROSOFT_TENANT_ID)
    if not config.device_authorization_endpoint:
        raise FlowError(
            "no_device_flow",
            "The identity provider does not offer sign-in with a code (its discovery document "
            "has no device_authorization_endpoint). Use the other sign-in method.",
        )
    try:
        flow = public_app(tenant=tenant).initiate_device_flow(scopes=scopes)
    except TRANSIENT_ERRORS as exc:
        logger.warning("Device flow could not start: %s", type(exc).__name__)
        raise unreachable(exc) from exc
    if "user_code" not in flow:
        error = flow.get("error", "unknown")
        logger.warning("Device flow refused: %s", error)
        if error in CONFIGURATION_ERRORS:
            raise FlowError(error, configuration_advice(error, flow.get("error_description")))
        raise FlowError(error, first_line(flow.get("error_description")))

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
    flow: dict[str, Any], *, tenant: str | None, session: MicrosoftSession | LeanSession
) -> Poll:
    """Send exactly one token request for a device flow (non-blocking)."""
    return _poll_with(public_app(tenant=tenant, session=session), flow, session)


class DevicePolls:
    """Sends device-flow polls from one thread, keeping one msal app per tenant from poll
    to poll (building an app per poll cost about as much CPU as the poll's own msal work).

    An app that obtained tokens, or raised, is dropped, never reused: so the token cache a
    TOKENS poll hands back holds that one sign-in's tokens and nobody else's.
    """

    MAX_APPS = 64  # tenants kept, least recently polled dropped first

    def __init__(self, session: MicrosoftSession | LeanSession) -> None:
        self.session = session
        self._apps: dict[str | None, msal.PublicClientApplication] = {}

    def poll(self, flow: dict[str, Any], *, tenant: str | None) -> Poll:
        app = self._apps.pop(tenant, None) or public_app(tenant=tenant, session=self.session)
        poll = _poll_with(app, flow, self.session)
        if poll.outcome is not PollOutcome.TOKENS:
            self._apps[tenant] = app  # re-inserted last: the dict's order is recency
            if len(self._apps) > self.MAX_APPS:
                del self._apps[next(iter(self._apps))]
        return poll


def _poll_with(
    app: msal.PublicClientApplication,
    flow: dict[str, Any],
    session: MicrosoftSession | LeanSession,
) -> Poll:
    try:
        result = app.acquire_token_by_device_flow(flow, exit_condition=lambda _flow: True)
    except TRANSIENT_ERRORS as exc:
        return Poll(
            PollOutcome.TRANSIENT,
            flow,
            error=type(exc).__name__,
            description=str(exc) if isinstance(exc, TLSFailure) else "",
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
    scopes: list[str],
    *,
    redirect_uri: str,
    login_hint: str | None = None,
    domain_hint: str | None = None,
    tenant: str | None = None,
) -> dict[str, Any]:
    """Returns msal's flow dict (secret: code_verifier, nonce); flow["auth_uri"] is where to go."""
    config = tenant_configuration(tenant or settings.MICROSOFT_TENANT_ID)
    try:
        return confidential_app(tenant=tenant).initiate_auth_code_flow(
            scopes,
            redirect_uri=redirect_uri,
            login_hint=login_hint,
            domain_hint=domain_hint,
            response_mode="form_post",
            prompt=prompt_for(config),
        )
    except TRANSIENT_ERRORS as exc:
        logger.warning("Browser sign-in could not start: %s", type(exc).__name__)
        raise unreachable(exc) from exc


def prompt_for(config: discovery.Configuration) -> str | None:
    """MICROSOFT_PROMPT when set; otherwise select_account where the provider lists it in
    prompt_values_supported; otherwise none (a provider may refuse a value it lacks)."""
    if settings.MICROSOFT_PROMPT:
        return settings.MICROSOFT_PROMPT
    if "select_account" in (config.prompt_values_supported or ()):
        return "select_account"
    return None


def finish_auth_code_flow(
    flow: dict[str, Any], auth_response: dict[str, str], *, tenant: str | None = None
) -> tuple[dict[str, Any], str]:
    """Redeem the code. Returns (msal result, serialized token cache).

    Raises ValueError when `state` doesn't match the flow and RuntimeError when the nonce
    doesn't (msal's own checks); a result with "error" when Entra refused.
    """
    cache = new_cache()
    result = confidential_app(cache, tenant=tenant).acquire_token_by_auth_code_flow(
        flow, auth_response
    )
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
        raise unreachable(exc) from exc
    return result, cache.serialize()


# --- Silent acquisition and app-only tokens ----------------------------------------------------


def acquire_silent(
    serialized_cache: str,
    *,
    confidential: bool,
    tenant: str,
    scopes: list[str],
    force_refresh: bool = False,
    claims_challenge: str | None = None,
) -> tuple[dict[str, Any] | None, str | None]:
    """Get an access token from the cache, refreshing it if msal sees the need.

    `claims_challenge` (the decoded JSON of a resource's claims challenge) makes msal
    skip the cached access token and redeem the refresh token with those claims.

    Returns (result, new serialized cache or None when unchanged). `result` is a dict
    with "error" when there is no token to be had: `no_account` (the cache holds none),
    `no_refresh_token` (the access token expired and there is nothing to renew it with),
    or the provider's refusal of the refresh.
    Raises one of TRANSIENT_ERRORS on network errors and 5xx.
    """
    cache = new_cache(serialized_cache)
    app = (
        confidential_app(cache, tenant=tenant) if confidential else public_app(cache, tenant=tenant)
    )
    accounts = app.get_accounts()
    if not accounts:
        return {
            "error": "no_account",
            "error_description": "The token cache holds no account.",
        }, None
    result = app.acquire_token_silent_with_error(
        scopes, accounts[0], force_refresh=force_refresh, claims_challenge=claims_challenge
    )
    if result is None:
        result = {
            "error": "no_refresh_token",
            "error_description": "The access token expired and the portal holds no refresh "
            "token to renew it.",
        }
    return result, (cache.serialize() if cache.has_state_changed else None)


_app_only: dict[tuple[str, str, str], msal.ConfidentialClientApplication] = {}


def app_only_token(tenant_id: str, *, force: bool = False) -> str:
    """An application token for Graph in `tenant_id` (client credentials), cached by msal,
    with the tenant's own app and credentials when it names them (authflow/credentials.py).

    `force` drops the cached one (Graph refused it) and asks Entra for a new token. A
    credentials reference that names nothing set is a FlowError "credentials_missing".
    """
    try:
        own = credentials.for_tenant(tenant_id)
    except credentials.CredentialsMissing as exc:
        raise FlowError("credentials_missing", str(exc)) from exc
    key = (tenant_id, own.client_id, own.ref)
    if force:
        _app_only.pop(key, None)
    app = _app_only.get(key)
    if app is None:
        app = _app_only.setdefault(key, confidential_app(tenant=tenant_id, app=own))
    try:
        result = app.acquire_token_for_client([graph_scope(".default")])
    except TRANSIENT_ERRORS as exc:
        raise unreachable(exc) from exc
    if "access_token" not in result:
        error = result.get("error", "unknown")
        logger.warning("App-only token refused: %s", error)
        if error in CONFIGURATION_ERRORS:
            raise FlowError(error, configuration_advice(error, result.get("error_description")))
        if error == "unsupported_grant_type":
            raise FlowError(error, GRAPH_UNAVAILABLE)
        raise FlowError(error, first_line(result.get("error_description")))
    return result["access_token"]


def forget_app_only_tokens() -> None:
    """Drop every tenant's cached app-only token: the next call asks Entra for a new one,
    with the application permissions granted now (a token's `roles` are fixed when issued)."""
    _app_only.clear()


# What commands that need Graph say when the identity provider issues no app-only tokens
# (a provider that is not Entra has no client credentials grant for Graph).
GRAPH_UNAVAILABLE = (
    "Microsoft Graph is not available with this identity provider: it issues no application "
    "tokens (client credentials) for Graph. Backups, the helpdesk look-up and `manage.py "
    "login` need Microsoft Entra and Graph (MICROSOFT_CLOUD, MICROSOFT_GRAPH_URL)."
)


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
