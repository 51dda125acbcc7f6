"""The grants of POST /api/v1/token: who is asking, proven by what Microsoft issued them.

- `operator` (Veeam's restore-operator flow): the assertion is an access token for the
  portal's own API (`api://<client id>/access_as_user`), which the portal can and does
  validate like an id_token (authflow.identity). client_id must be its `oid.tid`.
- `jwt-bearer` (Veeam's modern app-only flow): the assertion is a whole Microsoft token
  response for Graph. A Graph access token cannot be validated by a third party, so it is
  proven by using it: Graph `/me` and `/organization` say who and which tenant. The
  refresh token is then redeemed once with the portal's public client (it must have been
  issued to that app); the id_token of that answer, straight from Entra, is validated and
  must name the same person. Those delegated tokens are kept, so this person's restores
  run under their own permissions.

Every refusal is a GrantError carrying an RFC 6749 error code and a safe description.
A grant returns a `Proof` after every request to Microsoft is done; `Proof.keep()` then
writes what it proved (the user, the delegated tokens), so the caller's transaction
never waits on Microsoft.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from django.conf import settings

from authflow import accounts, flows, identity, signins
from authflow.models import Tenant, TokenCache, User
from portal.graph import GraphClient, GraphError, GraphThrottled

logger = logging.getLogger(__name__)

OPERATOR = "operator"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
REFRESH_TOKEN = "refresh_token"  # noqa: S105 (a grant type, not a secret)
GRANT_TYPES = (OPERATOR, JWT_BEARER, REFRESH_TOKEN)
# Short names for the audit log and ApiToken.grant.
GRANT_NAMES = {OPERATOR: "operator", JWT_BEARER: "jwt-bearer", REFRESH_TOKEN: "refresh_token"}

_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
IDENTITY_KEY = re.compile(rf"^{_GUID}\.{_GUID}$")
TENANT = re.compile(rf"^(?:{_GUID}|[A-Za-z0-9-]{{1,63}}(?:\.[A-Za-z0-9-]{{1,63}})+)$")


class GrantError(Exception):
    def __init__(
        self, error: str, description: str, *, status: int = 400, retry_after: int | None = None
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Proof:
    """Who a grant proved, and how to keep them: `keep()` only writes to the database.

    `assertion` names the proof itself (a token id, or a hash) and `assertion_expires_at`
    how long it would prove anything: one assertion mints one token family."""

    key: str  # userId.tenantId
    keep: Callable[[], User]
    assertion: str
    assertion_expires_at: datetime


def _hashed(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def invalid_client(description: str) -> GrantError:
    return GrantError("invalid_client", description, status=401)


def unavailable(description: str, retry_after: float | None = None) -> GrantError:
    return GrantError(
        "temporarily_unavailable",
        description,
        status=503,
        retry_after=max(1, int(retry_after or 30)),
    )


# --- operator --------------------------------------------------------------------------


def operator(client_id: str, assertion: str) -> Proof:
    """Validate an access token for the portal's API: its person."""
    if not IDENTITY_KEY.match(client_id):
        raise invalid_client("client_id must be the caller's userId.tenantId.")
    api = settings.MICROSOFT_CLIENT_ID
    try:
        who = identity.validate(assertion, audiences=[api, f"api://{api}"])
    except identity.InvalidIdentityToken as exc:
        raise GrantError("invalid_grant", f"The assertion was refused: {exc}.") from exc
    if settings.PORTAL_API_SCOPE not in who.scopes:
        raise GrantError(
            "invalid_grant",
            f"The assertion is not a delegated token with the {settings.PORTAL_API_SCOPE} "
            "scope of the portal's API.",
        )
    if client_id.lower() != who.key:
        raise invalid_client("client_id is not the userId.tenantId of the assertion's user.")
    return Proof(
        who.key,
        lambda: accounts.user_for(who),
        assertion=f"uti:{who.token_id}" if who.token_id else _hashed(assertion),
        assertion_expires_at=datetime.fromtimestamp(who.expires_at, UTC)
        + timedelta(seconds=identity.LEEWAY_SECONDS),
    )


# --- jwt-bearer --------------------------------------------------------------------------


# A Graph access token lives 60-90 minutes, up to 28 hours under Continuous Access
# Evaluation; one whose answer gives no expires_in is remembered that long.
GRAPH_TOKEN_MAX_LIFETIME = timedelta(hours=28)


def _token_response(assertion: str) -> tuple[str, str, timedelta]:
    """(access_token, refresh_token, lifetime) of a Microsoft token response as JSON."""
    try:
        response = json.loads(assertion)
    except ValueError:
        raise GrantError(
            "invalid_request", "The assertion must be the JSON token response from Microsoft."
        ) from None
    if not isinstance(response, dict):
        raise GrantError("invalid_request", "The assertion must be a JSON object.")
    access_token, refresh_token = response.get("access_token"), response.get("refresh_token")
    if not isinstance(access_token, str) or not access_token:
        raise GrantError("invalid_request", "The assertion has no access_token.")
    if not isinstance(refresh_token, str) or not refresh_token:
        raise GrantError(
            "invalid_request",
            "The assertion has no refresh_token (ask Microsoft for the offline_access scope).",
        )
    token_type = response.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise GrantError("invalid_request", "The assertion's token_type must be Bearer.")
    lifetime = GRAPH_TOKEN_MAX_LIFETIME
    expires_in = response.get("expires_in")
    if isinstance(expires_in, int | str) and str(expires_in).isdigit():
        lifetime = min(timedelta(seconds=int(expires_in)), GRAPH_TOKEN_MAX_LIFETIME)
    return access_token, refresh_token, lifetime


def _ask_graph(access_token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """/me and /organization as the assertion's access token sees them."""
    graph = GraphClient(lambda force=False, claims=None: access_token, max_retries=1, max_wait=5)
    try:
        me = graph.get("me", **{"$select": "id,userPrincipalName,displayName"})
        organizations = graph.get("organization", **{"$select": "id,verifiedDomains"})
    except GraphThrottled as exc:
        raise unavailable(
            "Microsoft Graph is throttling; try again later.", exc.retry_after
        ) from exc
    except GraphError as exc:
        if 400 <= exc.status < 500:
            raise GrantError(
                "invalid_grant",
                f"Microsoft Graph refused the assertion's access token ({exc.status} {exc.code}).",
            ) from exc
        raise unavailable("Microsoft Graph could not be asked who this is.") from exc
    except (requests.RequestException, ValueError) as exc:
        raise unavailable("Microsoft Graph could not be reached.") from exc
    organization = (organizations.get("value") or [None])[0]
    try:
        oid = str(uuid.UUID(str(me["id"])))
        tid = str(uuid.UUID(str(organization["id"])))
    except (KeyError, TypeError, ValueError) as exc:
        raise GrantError("invalid_grant", "Microsoft Graph did not say who this is.") from exc
    return {**me, "id": oid}, {**organization, "id": tid}


def _names(organization: dict[str, Any]) -> set[str]:
    domains = organization.get("verifiedDomains") or []
    return {organization["id"]} | {
        str(d.get("name", "")).lower() for d in domains if isinstance(d, dict)
    }


def jwt_bearer(client_id: str, assertion: str) -> Proof:
    """Prove a Graph token response and adopt its refresh token: its person.

    1. Parse the token response (access_token and refresh_token are required).
    2. Ask Graph /me and /organization with the access token.
    3. client_id must be that tenant: its id or one of its verified domains.
    4. Redeem the refresh token with the portal's public client, in that tenant.
    5. Validate the id_token of that answer; it must be the same person as /me.
    6. `keep()`: the delegated tokens (encrypted) and the user, in the caller's transaction.
    """
    if not TENANT.match(client_id):
        raise invalid_client("client_id must be the tenant's id or one of its domains.")
    access_token, refresh_token, lifetime = _token_response(assertion)
    received_at = datetime.now(UTC)
    me, organization = _ask_graph(access_token)
    tenant_id = organization["id"]
    if client_id.lower() not in _names(organization):
        raise invalid_client("client_id is not the tenant of the assertion's user.")
    if not Tenant.may_sign_in(tenant_id):
        raise GrantError("invalid_grant", f"Tenant {tenant_id} may not use this portal.")
    try:
        result, cache = flows.redeem_refresh_token(
            refresh_token, signins.sign_in_scopes(), tenant=tenant_id
        )
    except flows.FlowError as exc:
        raise unavailable(str(exc)) from exc
    if "access_token" not in result:
        error = str(result.get("error", "unknown"))
        logger.info("Adopting a refresh token failed: %s", error)
        raise GrantError(
            "invalid_grant",
            f"Microsoft refused the assertion's refresh token ({error}): "
            f"{flows.first_line(result.get('error_description'))} The token must have been "
            "issued to the portal's app.",
        )
    try:
        who = identity.validate(
            result.get("id_token", ""), audiences=[settings.MICROSOFT_PUBLIC_CLIENT_ID]
        )
    except identity.InvalidIdentityToken as exc:
        raise GrantError("invalid_grant", f"Microsoft's answer was refused: {exc}.") from exc
    if who.key != f"{me['id']}.{tenant_id}":
        raise GrantError(
            "invalid_grant", "The access token and the refresh token belong to different people."
        )
    # The refresh token belongs to the public client, as a device-code sign-in's do.
    return Proof(
        who.key,
        lambda: signins.keep_signed_in(
            who,
            cache,
            result,
            TokenCache.Method.DEVICE_CODE,
            "api:jwt-bearer",
            on_behalf_of=who.key,
        ),
        assertion=_hashed(access_token),
        assertion_expires_at=received_at + lifetime + timedelta(seconds=identity.LEEWAY_SECONDS),
    )
