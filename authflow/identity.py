"""Who signed in: the identity `userId.tenantId` from an id_token the portal validates itself.

msal only decodes id_tokens (since 1.38 it no longer validates them), so the portal checks
the signature against the tenant's JWKS (cached, refreshed with the discovery document on
an unknown key id for rollover), the issuer the tenant's validated discovery document
names (authflow.discovery: never one built from a host name), the audience, expiry and
not-before with a small leeway, and that the tenant is one of the allowed tenants. The
same checks validate access tokens for the portal's own API (audience = its client id).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from django.core.cache import cache

from authflow import discovery
from authflow.models import Tenant
from portal.microsoft import http_session

# Clock skew allowed on exp/nbf/iat: at most a minute, so an expired assertion is not
# traded for portal tokens long after it ended.
LEEWAY_SECONDS = 60
JWKS_TTL_SECONDS = 24 * 3600
# An unknown key id triggers at most one JWKS refetch per tenant in this window, so
# forged tokens with random kids cannot make the portal hammer Microsoft.
JWKS_REFETCH_FLOOR_SECONDS = 5


class InvalidIdentityToken(Exception):
    """The token is not one we accept. The message is safe to log; it holds no token."""


@dataclass(frozen=True)
class Identity:
    oid: str
    tid: str
    upn: str = ""
    name: str = ""
    roles: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    scopes: tuple[str, ...] = field(default=())
    # The token's own id (Entra's `uti`, else `jti`) and expiry (epoch seconds).
    token_id: str = ""
    expires_at: int = 0

    @property
    def key(self) -> str:
        """userId.tenantId, the portal's key for a person."""
        return f"{self.oid}.{self.tid}"


def issuer_for(tenant_id: str) -> str:
    """The issuer tokens of `tenant_id` carry, from its validated discovery document."""
    try:
        return discovery.configuration(tenant_id).issuer_for(tenant_id)
    except discovery.DiscoveryError as exc:
        raise InvalidIdentityToken(f"Tenant {tenant_id} cannot be trusted: {exc}") from exc


def _fetch_jwks(tenant_id: str, *, refresh: bool) -> dict[str, Any]:
    config = discovery.configuration(tenant_id, refresh=refresh)
    with http_session() as session:
        keys = session.get(config.jwks_uri)
        keys.raise_for_status()
        return keys.json()


def _load_jwks(tenant_id: str, cache_key: str, *, refresh: bool = False) -> dict[str, Any]:
    try:
        jwks = _fetch_jwks(tenant_id, refresh=refresh)
    except discovery.DiscoveryError as exc:
        raise InvalidIdentityToken(f"Tenant {tenant_id} cannot be trusted: {exc}") from exc
    except Exception as exc:  # network, HTTP or JSON: the signature can't be checked
        raise InvalidIdentityToken(
            f"Could not fetch the signing keys of tenant {tenant_id}"
        ) from exc
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise InvalidIdentityToken(f"The signing keys of tenant {tenant_id} are not a JWK set")
    cache.set(cache_key, jwks, JWKS_TTL_SECONDS)
    return jwks


def _find(jwks: dict[str, Any], kid: str) -> dict[str, Any] | None:
    return next((k for k in jwks.get("keys", []) if k.get("kid") == kid), None)


def _signing_key(tenant_id: str, kid: str) -> tuple[Any, dict[str, Any]]:
    """The public key for `kid` from the tenant's JWKS, refetched once if it is unknown."""
    cache_key = f"authflow:jwks:{tenant_id}"
    jwks = cache.get(cache_key)
    if jwks is None:
        jwks = _load_jwks(tenant_id, cache_key)
    elif _find(jwks, kid) is None and cache.add(
        f"{cache_key}:refetch", 1, JWKS_REFETCH_FLOOR_SECONDS
    ):
        # Key rollover: a new key was published. The discovery document is read again
        # too, in case it now names another key set.
        jwks = _load_jwks(tenant_id, cache_key, refresh=True)
    jwk = _find(jwks, kid)
    if jwk is None:
        raise InvalidIdentityToken("The token was signed with a key the tenant does not publish")
    return jwt.PyJWK(jwk, algorithm="RS256").key, jwk


def validate(token: str, *, audiences: list[str], nonce: str | None = None) -> Identity:
    """Validate an RS256 token issued by Entra to us and return who it is about."""
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError as exc:
        raise InvalidIdentityToken("Not a JWT") from exc
    if header.get("alg") != "RS256" or not header.get("kid"):
        raise InvalidIdentityToken("Only RS256 tokens with a key id are accepted")

    tid = str(unverified.get("tid", ""))
    try:
        tid = str(uuid.UUID(tid))
    except ValueError:
        raise InvalidIdentityToken("The token has no valid tenant id") from None
    if not Tenant.may_sign_in(tid):
        raise InvalidIdentityToken(f"Tenant {tid} is not allowed to sign in to this portal")

    key, jwk = _signing_key(tid, header["kid"])
    expected_issuer = issuer_for(tid)
    key_issuer = jwk.get("issuer")
    if key_issuer and key_issuer.replace("{tenantid}", tid) != expected_issuer:
        raise InvalidIdentityToken("The signing key belongs to another issuer")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            audience=audiences,
            issuer=expected_issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud", "oid", "tid"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidIdentityToken("The token has expired") from exc
    except jwt.ImmatureSignatureError as exc:
        raise InvalidIdentityToken("The token is not valid yet") from exc
    except jwt.InvalidTokenError as exc:
        raise InvalidIdentityToken(f"The token is invalid: {type(exc).__name__}") from exc
    if nonce is not None and claims.get("nonce") != nonce:
        raise InvalidIdentityToken("The token's nonce does not match the sign-in")
    try:
        oid = str(uuid.UUID(str(claims["oid"])))
    except ValueError:
        raise InvalidIdentityToken("The token has no valid object id") from None
    return Identity(
        oid=oid,
        tid=tid,
        upn=str(claims.get("preferred_username") or claims.get("upn") or ""),
        name=str(claims.get("name") or ""),
        roles=tuple(claims.get("roles") or ()),
        groups=tuple(claims.get("groups") or ()),
        scopes=tuple(str(claims.get("scp", "")).split()),
        token_id=str(claims.get("uti") or claims.get("jti") or ""),
        expires_at=int(claims["exp"]),
    )
