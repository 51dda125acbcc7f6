"""Who is calling: the bearer token, checked as Graph checks it.

Graph accepts only tokens issued for it (aud https://graph.microsoft.com or its app id),
signed by a key the tenant still publishes, and within their lifetime. App-only tokens
(`idtyp` app) carry `roles`; delegated ones carry `scp` and the user's `oid`.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass

import jwt
from django.conf import settings
from django.http import HttpRequest

from sandbox import keys
from sandbox.graph import errors
from sandbox.graph.permissions import Permission
from sandbox.models import DirectoryUser
from sandbox.models.directory import GRAPH_APP_ID


def graph_audiences() -> list[str]:
    """The configured cloud's Graph resource (tokens for another cloud's Graph are refused)."""
    return [settings.MICROSOFT_GRAPH_RESOURCE, GRAPH_APP_ID]


@dataclass(frozen=True)
class Caller:
    tenant_id: uuid.UUID
    app_id: str
    app_only: bool
    scopes: frozenset[str]
    roles: frozenset[str]
    user: DirectoryUser | None  # the signed-in user of a delegated token

    def may(self, permission: Permission) -> bool:
        return permission.allows(scopes=self.scopes, roles=self.roles, app_only=self.app_only)

    def may_reach_beyond_self(self, permission: Permission) -> bool:
        """Delegated: does a scope let this user reach data that is not their own?"""
        return self.app_only or any(s in self.scopes for s in permission.delegated_all)


def bearer_token(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise errors.unauthenticated("Access token is empty.")
    return token.strip()


# What Graph says with a CAE claims challenge (401 InvalidAuthenticationToken).
CAE_MESSAGE = (
    "Continuous access evaluation resulted in challenge with result: InteractionRequired "
    "and code: TokenIssuedBeforeRevocationTimestamp"
)


def _revoked_since(user: DirectoryUser, claims: dict[str, object]) -> bool:
    """Whether the token was issued before the account was disabled or its sessions
    revoked. `iat` has whole seconds: a token of the revocation's own second counts as
    issued before (CAE fails closed)."""
    if not user.account_enabled:
        return True
    issued = claims.get("iat")
    return isinstance(issued, int) and issued < user.sign_in_sessions_valid_from.timestamp()


def cae_challenge(user: DirectoryUser) -> errors.GraphError:
    """Graph's answer to a revoked CAE token: 401 and a claims challenge asking for a token
    not before the revocation, in the WWW-Authenticate shape Microsoft documents."""
    not_before = str(int(user.sign_in_sessions_valid_from.timestamp()))
    claims = json.dumps({"access_token": {"nbf": {"essential": True, "value": not_before}}})
    encoded = base64.b64encode(claims.encode()).decode("ascii")
    authorize = f"https://{settings.MICROSOFT_AUTHORITY_HOST}/common/oauth2/authorize"
    return errors.GraphError(
        401,
        "InvalidAuthenticationToken",
        CAE_MESSAGE,
        headers={
            "WWW-Authenticate": (
                f'Bearer realm="", authorization_uri="{authorize}", '
                f'error="insufficient_claims", claims="{encoded}"'
            )
        },
    )


def authenticate(request: HttpRequest) -> Caller:
    token = bearer_token(request)
    try:
        claims = keys.verify(token, audience=graph_audiences())
    except jwt.ExpiredSignatureError:
        raise errors.unauthenticated("Lifetime validation failed, the token is expired.") from None
    except jwt.InvalidAudienceError:
        raise errors.unauthenticated("Access token validation failure. Invalid audience.") from None
    except jwt.InvalidSignatureError:
        raise errors.unauthenticated("Access token validation failure.") from None
    except jwt.DecodeError:
        # Not a JWT at all (Graph's words for a token it cannot even parse).
        raise errors.unauthenticated("IDX14100: JWT is not well formed.") from None
    except jwt.InvalidTokenError:
        raise errors.unauthenticated("Access token validation failure.") from None
    try:
        tenant_id = uuid.UUID(str(claims.get("tid")))
    except ValueError:
        raise errors.unauthenticated("Access token validation failure.") from None
    app_only = claims.get("idtyp") == "app" or "scp" not in claims
    user = None
    oid = claims.get("oid")
    if not app_only and oid is not None:  # no oid: no user (ids are never null)
        user = (
            DirectoryUser.objects.select_related("tenant")
            .filter(id=oid, tenant_id=tenant_id)
            .first()
        )
        if user is None:
            raise errors.unauthenticated("Access token validation failure.")
        # A disabled user's access tokens stay valid until they expire, as in Entra
        # without continuous access evaluation, and only refresh stops working. A client
        # that declared the cp1 capability (xms_cc) gets CAE instead: Graph refuses a
        # token issued before the account was disabled or its sessions revoked, with a
        # claims challenge.
        if "cp1" in (claims.get("xms_cc") or ()) and _revoked_since(user, claims):
            raise cae_challenge(user)
    return Caller(
        tenant_id=tenant_id,
        app_id=str(claims.get("appid") or claims.get("azp") or ""),
        app_only=app_only,
        scopes=frozenset(str(claims.get("scp", "")).split()),
        roles=frozenset(claims.get("roles") or ()),
        user=user,
    )
