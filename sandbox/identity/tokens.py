"""Minting tokens as Entra does: v2 id_tokens, Graph (v1-shaped) and API (v2) access tokens,
opaque rotating refresh tokens, client_info."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import secrets
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from sandbox import keys
from sandbox.identity.scopes import ScopeRequest
from sandbox.models import (
    Application,
    DirectoryUser,
    Group,
    Policy,
    RefreshToken,
    ServicePrincipal,
    Tenant,
)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def v2_issuer(tenant_id: uuid.UUID | str) -> str:
    """As the configured cloud's Entra names itself: Azure China's issuer host is not its
    authority host (settings.MICROSOFT_ISSUER_HOSTS, first)."""
    return f"https://{settings.MICROSOFT_ISSUER_HOSTS[0]}/{tenant_id}/v2.0"


def v1_issuer(tenant_id: uuid.UUID | str) -> str:
    return f"https://sts.windows.net/{tenant_id}/"


def client_info(user: DirectoryUser) -> str:
    return _b64url(json.dumps({"uid": str(user.id), "utid": str(user.tenant_id)}).encode())


def _pairwise_sub(user: DirectoryUser, client: Application) -> str:
    return _b64url(hashlib.sha256(f"{user.id}:{client.client_id}".encode()).digest())[:43]


def _times(lifetime: int) -> dict[str, int]:
    now = int(time.time())
    return {"iat": now, "nbf": now, "exp": now + lifetime}


def _user_roles(user: DirectoryUser, app: Application) -> list[str]:
    sp = ServicePrincipal.objects.filter(tenant_id=user.tenant_id, application=app).first()
    if sp is None:
        return []
    return sorted(role for role, oids in sp.app_role_assignments.items() if str(user.id) in oids)


def _group_ids(user: DirectoryUser) -> list[str]:
    return [str(g) for g in Group.objects.filter(members=user).values_list("id", flat=True)]


def id_token(
    user: DirectoryUser,
    client: Application,
    *,
    nonce: str = "",
    auth_time: datetime | None = None,
    include_auth_time: bool = False,
) -> str:
    claims: dict[str, Any] = {
        "aud": str(client.client_id),
        "iss": v2_issuer(user.tenant_id),
        **_times(3600),
        "name": user.display_name,
        "oid": str(user.id),
        "preferred_username": user.user_principal_name,
        "rh": _b64url(secrets.token_bytes(16)),
        "sub": _pairwise_sub(user, client),
        "tid": str(user.tenant_id),
        "uti": _b64url(secrets.token_bytes(16)),
        "ver": "2.0",
    }
    if nonce:
        claims["nonce"] = nonce
        if Policy.current().tamper_id_token_nonce:
            claims["nonce"] = "0" * 64
    if include_auth_time and auth_time:
        claims["auth_time"] = int(auth_time.timestamp())
    if roles := _user_roles(user, client):
        claims["roles"] = roles
    if client.group_membership_claims:
        claims["groups"] = _group_ids(user)
    return keys.sign(claims)


def access_token_lifetime() -> int:
    policy = Policy.current()
    low, high = policy.access_token_min_lifetime, policy.access_token_max_lifetime
    return random.randint(low, max(low, high))  # noqa: S311 (a lifetime, not a secret)


def client_capabilities(claims_parameter: str) -> list[str]:
    """The client capabilities a token request declares: msal sends them in the `claims`
    parameter as {"access_token": {"xms_cc": {"values": ["cp1"]}}}; Entra then puts them
    in the access token's `xms_cc` claim. Anything unreadable declares nothing."""
    try:
        parsed = json.loads(claims_parameter or "{}")
        values = parsed["access_token"]["xms_cc"]["values"]
    except (ValueError, KeyError, TypeError):
        return []
    return [str(v) for v in values] if isinstance(values, list) else []


def user_access_token(
    user: DirectoryUser,
    client: Application,
    request: ScopeRequest,
    granted: set[str],
    *,
    client_type: str,
    lifetime: int,
    capabilities: Sequence[str] = (),
) -> str:
    common: dict[str, Any] = {
        **_times(lifetime),
        "tid": str(user.tenant_id),
        "oid": str(user.id),
        "name": user.display_name,
        "scp": " ".join(sorted(granted)),
        "uti": _b64url(secrets.token_bytes(16)),
        "idtyp": "user",
    }
    if capabilities:
        common["xms_cc"] = list(capabilities)
    if request.is_graph:
        return keys.sign(
            {
                **common,
                "aud": settings.MICROSOFT_GRAPH_RESOURCE,
                "iss": v1_issuer(user.tenant_id),
                "ver": "1.0",
                "sub": _pairwise_sub(user, client),
                "upn": user.user_principal_name,
                "unique_name": user.user_principal_name,
                "given_name": user.given_name,
                "family_name": user.surname,
                "appid": str(client.client_id),
                "appidacr": "0" if client_type == RefreshToken.ClientType.PUBLIC else "1",
                "amr": ["pwd"],
            }
        )
    api = request.api
    if api is None:
        raise ValueError("An access token for an API needs the API's application")
    claims = {
        **common,
        "aud": str(api.client_id),
        "iss": v2_issuer(user.tenant_id),
        "ver": "2.0",
        "sub": _pairwise_sub(user, api),
        "azp": str(client.client_id),
        "azpacr": "0" if client_type == RefreshToken.ClientType.PUBLIC else "1",
        "preferred_username": user.user_principal_name,
    }
    if roles := _user_roles(user, api):
        claims["roles"] = roles
    # Entra's groupMembershipClaims on the API's registration covers its access tokens too.
    if api.group_membership_claims:
        claims["groups"] = _group_ids(user)
    return keys.sign(claims)


def app_access_token(sp: ServicePrincipal, lifetime: int) -> str:
    """An app-only Graph token (client credentials): roles, no scp, no user."""
    return keys.sign(
        {
            **_times(lifetime),
            "aud": settings.MICROSOFT_GRAPH_RESOURCE,
            "iss": v1_issuer(sp.tenant_id),
            "ver": "1.0",
            "tid": str(sp.tenant_id),
            "oid": str(sp.id),
            "sub": str(sp.id),
            "appid": str(sp.application.client_id),
            "appidacr": "1",
            "roles": sorted(sp.graph_app_roles),
            "idtyp": "app",
            "uti": _b64url(secrets.token_bytes(16)),
        }
    )


def new_refresh_token(
    user: DirectoryUser,
    client: Application,
    tenant: Tenant,
    *,
    client_type: str,
    grant: str,
    auth_time: datetime,
    family: uuid.UUID | None = None,
) -> str:
    token = "1.AQ" + secrets.token_urlsafe(96)
    RefreshToken.objects.create(
        token_hash=digest(token),
        family=family or uuid.uuid4(),
        user=user,
        application=client,
        tenant=tenant,
        client_type=client_type,
        grant=grant,
        expires_at=timezone.now() + RefreshToken.lifetime(),
        auth_time=auth_time,
    )
    return token


def user_token_response(
    user: DirectoryUser,
    client: Application,
    request: ScopeRequest,
    granted: set[str],
    *,
    client_type: str,
    grant: str,
    auth_time: datetime,
    nonce: str = "",
    with_client_info: bool = False,
    family: uuid.UUID | None = None,
    include_auth_time: bool = False,
    capabilities: Sequence[str] = (),
) -> dict[str, Any]:
    lifetime = access_token_lifetime()
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "scope": request.display(granted),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": user_access_token(
            user,
            client,
            request,
            granted,
            client_type=client_type,
            lifetime=lifetime,
            capabilities=capabilities,
        ),
    }
    if "offline_access" in request.oidc:
        body["refresh_token"] = new_refresh_token(
            user,
            client,
            user.tenant,
            client_type=client_type,
            grant=grant,
            auth_time=auth_time,
            family=family,
        )
    if "openid" in request.oidc:
        body["id_token"] = id_token(
            user, client, nonce=nonce, auth_time=auth_time, include_auth_time=include_auth_time
        )
    if with_client_info:
        body["client_info"] = client_info(user)
    return body


def refresh_token_is_current(token: RefreshToken) -> bool:
    return token.revoked_at is None and token.issued_at >= token.user.sign_in_sessions_valid_from


def sliding_expiry() -> datetime:
    return timezone.now() + timedelta(seconds=Policy.current().refresh_token_lifetime)
