"""The token endpoint's grants: device code, authorization code, refresh token, client
credentials. Each checks what Entra checks and fails with Entra's error."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from sandbox.identity import errors, scopes, tokens
from sandbox.identity.clients import Client
from sandbox.models import (
    AuthorizationCode,
    DeviceCode,
    DirectoryUser,
    Policy,
    RefreshToken,
    ServicePrincipal,
    Tenant,
)

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def _client_type(client: Client) -> str:
    return (
        RefreshToken.ClientType.CONFIDENTIAL
        if client.is_confidential
        else RefreshToken.ClientType.PUBLIC
    )


def _required(request: HttpRequest, name: str) -> str:
    value = request.POST.get(name, "")
    if not value:
        raise errors.missing_parameter(name)
    return value


def _graph_or_api_grant(
    user: DirectoryUser, client: Client, request: scopes.ScopeRequest
) -> set[str]:
    """What the token will carry: every consented scope of the resource, as Entra does."""
    consented = scopes.consented(user, client.app, request)
    wanted = request.scopes or ({"User.Read"} if request.is_graph else set())
    if not consented or (not request.is_default and not wanted <= consented):
        raise errors.consent_required(str(client.app.client_id), client.app.display_name)
    return consented


def device_code(request: HttpRequest, client: Client, tenant: Tenant | None) -> dict[str, Any]:
    code = request.POST.get("device_code") or request.POST.get("code") or ""
    if not code:
        raise errors.missing_parameter("device_code")
    if not client.is_confidential and not client.app.is_fallback_public_client:
        raise errors.CREDENTIALS_REQUIRED
    policy = Policy.current()
    outcome: errors.OAuthError | None = None
    with transaction.atomic():
        # No select_related("user"): a poll that waits here on the approval's lock gets the
        # approved row (user set) re-checked, but a joined user row as it was before the
        # approval (none), which answered bad_verification_code to a code just approved.
        dc = (
            DeviceCode.objects.select_for_update()
            .filter(device_code_hash=tokens.digest(code), application=client.app)
            .first()
        )
        if dc is None or dc.status == DeviceCode.Status.REDEEMED:
            raise errors.BAD_VERIFICATION_CODE
        now = timezone.now()
        if now >= dc.expires_at:
            raise errors.EXPIRED_TOKEN
        if dc.status == DeviceCode.Status.DECLINED:
            raise errors.AUTHORIZATION_DECLINED
        too_soon = (
            policy.slow_down_enabled
            and dc.last_polled_at is not None
            and (now - dc.last_polled_at).total_seconds() * 1000
            < dc.interval * 1000 - policy.poll_tolerance_ms
        )
        dc.last_polled_at = now
        dc.polls += 1
        if dc.status == DeviceCode.Status.PENDING:
            if too_soon:
                # RFC 8628 §3.5: the interval grows by 5 s for this and later polls.
                dc.interval += 5
                dc.slow_downs += 1
                outcome = errors.SLOW_DOWN
            else:
                outcome = errors.AUTHORIZATION_PENDING
        else:
            dc.status = DeviceCode.Status.REDEEMED
        dc.save(update_fields=["last_polled_at", "polls", "interval", "slow_downs", "status"])
    if outcome is not None:
        raise outcome

    user = dc.user
    if user is None:  # an approved code always has its user; guard against a broken row
        raise errors.BAD_VERIFICATION_CODE
    if not user.account_enabled:
        raise errors.USER_DISABLED
    if device_code_blocked(policy, user):
        raise errors.BLOCKED_BY_CONDITIONAL_ACCESS
    request_scopes = scopes.parse(" ".join(dc.scopes), str(user.tenant_id))
    granted = _graph_or_api_grant(user, client, request_scopes)
    return tokens.user_token_response(
        user,
        client.app,
        request_scopes,
        granted,
        client_type=_client_type(client),
        grant="device_code",
        auth_time=dc.approved_at or timezone.now(),
        with_client_info=request.POST.get("client_info") == "1",
        capabilities=tokens.client_capabilities(request.POST.get("claims", "")),
    )


def device_code_blocked(policy: Policy, user: DirectoryUser) -> bool:
    """Whether a Conditional Access policy blocks the device code flow for `user`."""
    blocked = {str(upn).lower() for upn in policy.device_code_blocked_users or ()}
    return policy.device_code_blocked or user.user_principal_name.lower() in blocked


def _pkce_matches(verifier: str, challenge: str, method: str) -> bool:
    if method == "S256":
        computed = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        expected = base64.urlsafe_b64encode(computed).rstrip(b"=").decode()
        return hmac.compare_digest(expected, challenge)
    return hmac.compare_digest(verifier, challenge)


def authorization_code(
    request: HttpRequest, client: Client, tenant: Tenant | None
) -> dict[str, Any]:
    code = _required(request, "code")
    redirect_uri = _required(request, "redirect_uri")
    if not client.is_confidential:
        raise errors.CREDENTIALS_REQUIRED
    with transaction.atomic():
        ac = (
            AuthorizationCode.objects.select_for_update(of=("self",))
            .select_related("user", "user__tenant")
            .filter(code_hash=tokens.digest(code), application=client.app)
            .first()
        )
        if ac is None:
            raise errors.CODE_INVALID
        if ac.redeemed_at is not None:
            raise errors.CODE_REDEEMED
        if timezone.now() >= ac.expires_at:
            raise errors.CODE_EXPIRED
        if redirect_uri != ac.redirect_uri:
            raise errors.redirect_mismatch(redirect_uri, str(client.app.client_id))
        if ac.code_challenge:
            verifier = request.POST.get("code_verifier", "")
            if not verifier:
                raise errors.PKCE_MISSING
            if not _pkce_matches(verifier, ac.code_challenge, ac.code_challenge_method):
                raise errors.PKCE_MISMATCH
        ac.redeemed_at = timezone.now()
        ac.save(update_fields=["redeemed_at"])

    user = ac.user
    if not user.account_enabled:
        raise errors.USER_DISABLED
    request_scopes = scopes.parse(" ".join(ac.scopes), str(ac.tenant_id))
    granted = _graph_or_api_grant(user, client, request_scopes)
    return tokens.user_token_response(
        user,
        client.app,
        request_scopes,
        granted,
        client_type=_client_type(client),
        grant="authorization_code",
        auth_time=ac.auth_time,
        nonce=ac.nonce,
        with_client_info=request.POST.get("client_info") == "1",
        capabilities=tokens.client_capabilities(request.POST.get("claims", "")),
    )


def refresh_token(request: HttpRequest, client: Client, tenant: Tenant | None) -> dict[str, Any]:
    value = _required(request, "refresh_token")
    scope = _required(request, "scope")
    rt = (
        RefreshToken.objects.select_related("user", "user__tenant", "application")
        .filter(token_hash=tokens.digest(value))
        .first()
    )
    if rt is None or rt.application_id != client.app.pk:
        raise errors.REFRESH_TOKEN_INVALID
    if tenant is not None and rt.tenant_id != tenant.id:
        raise errors.REFRESH_TOKEN_INVALID
    # A refresh token belongs to the client type that obtained it (AADSTS700025/7000218).
    if rt.client_type == RefreshToken.ClientType.PUBLIC and client.is_confidential:
        raise errors.PUBLIC_CLIENT_WITH_SECRET
    if rt.client_type == RefreshToken.ClientType.CONFIDENTIAL and not client.is_confidential:
        raise errors.CREDENTIALS_REQUIRED
    if not rt.user.account_enabled:
        raise errors.USER_DISABLED
    if not tokens.refresh_token_is_current(rt):
        raise errors.REFRESH_TOKEN_REVOKED
    if timezone.now() >= rt.expires_at:
        raise errors.REFRESH_TOKEN_EXPIRED
    request_scopes = scopes.parse(scope, str(rt.tenant_id))
    granted = _graph_or_api_grant(rt.user, client, request_scopes)
    # Entra rotates the refresh token but leaves the old one valid until it expires.
    request_scopes.oidc.add("offline_access")
    return tokens.user_token_response(
        rt.user,
        client.app,
        request_scopes,
        granted,
        client_type=rt.client_type,
        grant=rt.grant,
        auth_time=rt.auth_time,
        with_client_info=request.POST.get("client_info") == "1",
        capabilities=tokens.client_capabilities(request.POST.get("claims", "")),
        family=rt.family,
    )


def client_credentials(
    request: HttpRequest, client: Client, tenant: Tenant | None
) -> dict[str, Any]:
    if not client.is_confidential:
        raise errors.CREDENTIALS_REQUIRED
    if tenant is None:
        raise errors.NO_TENANT
    scope = _required(request, "scope").split()
    if len(scope) != 1 or scope[0] not in (
        f"{settings.MICROSOFT_GRAPH_RESOURCE}/.default",
        ".default",
    ):
        raise errors.CLIENT_CREDENTIALS_SCOPE
    sp = (
        ServicePrincipal.objects.select_related("application")
        .filter(tenant=tenant, application=client.app)
        .first()
    )
    if sp is None:
        raise errors.application_not_found(str(client.app.client_id), str(tenant.id))
    lifetime = tokens.access_token_lifetime()
    return {
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": tokens.app_access_token(sp, lifetime),
    }


GRANTS = {
    DEVICE_CODE_GRANT: device_code,
    "authorization_code": authorization_code,
    "refresh_token": refresh_token,
    "client_credentials": client_credentials,
}


def token_endpoint_url(tenant_name: str) -> str:
    return f"https://{settings.MICROSOFT_AUTHORITY_HOST}/{tenant_name}/oauth2/v2.0/token"
