"""POST /api/v1/token: trade a Microsoft-issued proof for the portal's API tokens.

The request is an OAuth 2.0 token request (application/x-www-form-urlencoded, RFC 6749
§3.2): each parameter once, only the parameters of its grant. The answer is Veeam's
shape (access_token, refresh_token, token_type, expires_in, userName, .issued, .expires)
or an RFC 6749 error; a refused request stores nothing but its audit event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qsl

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django_ratelimit.core import get_usage
from ninja import Field, Router, Schema, Status
from redis.exceptions import RedisError

from api import grants, liveness, tokens
from api.auth import BearerToken, caller
from api.errors import Error
from portal import audit
from restore import scope as restore_scope

router = Router(tags=["token"])

PARAMETERS = {
    grants.OPERATOR: {"grant_type", "client_id", "assertion"},
    grants.JWT_BEARER: {"grant_type", "client_id", "assertion"},
    grants.REFRESH_TOKEN: {"grant_type", "refresh_token"},
}
FORM = "application/x-www-form-urlencoded"

REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["grant_type"],
    "additionalProperties": False,
    "properties": {
        "grant_type": {"type": "string", "enum": list(grants.GRANT_TYPES)},
        "client_id": {
            "type": "string",
            "maxLength": 320,
            "description": "operator: the user's `userId.tenantId`; "
            "jwt-bearer: the tenant's domain (or id). Not sent with refresh_token.",
        },
        "assertion": {
            "type": "string",
            "description": "operator: a Microsoft access token for "
            "`api://<client id>/access_as_user`; jwt-bearer: the whole JSON token "
            "response from Microsoft (access_token, refresh_token, ...).",
        },
        "refresh_token": {
            "type": "string",
            "description": "refresh_token: the portal refresh token to redeem (once).",
        },
    },
}


class TokenOut(Schema):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"]
    expires_in: int = Field(description="Seconds the access token is valid.")
    userName: str
    issued: str = Field(alias=".issued", description="UTC, ISO 8601 with 7 decimals.")
    expires: str = Field(alias=".expires", description="When the access token expires.")


class TokenRequestError(Exception):
    def __init__(
        self, error: str, description: str, status: int = 400, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status
        self.headers = headers or {}


def _timestamp(moment: datetime) -> str:
    """.NET's round-trip format, as Veeam answers: 2024-08-07T15:56:22.9188632Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _answer(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JsonResponse:
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"  # RFC 6749 §5.1
    response["Pragma"] = "no-cache"
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _client_address(group: str, request: HttpRequest) -> str:
    # Not django-ratelimit's "ip" key: a WSGI server may leave REMOTE_ADDR out.
    return audit.client_ip(request) or "unknown"


def _rate_limit(request: HttpRequest) -> None:
    try:
        usage = get_usage(
            request,
            group="api-token",
            key=_client_address,
            rate=settings.API_TOKEN_RATE,
            increment=True,
        )
    except (RedisError, OSError):
        # The limit's counters live in the cache (Redis): without them no token is issued,
        # and the client is told to come back rather than shown a server error.
        raise TokenRequestError(
            "temporarily_unavailable",
            "The portal cannot reach its cache right now. Try again shortly.",
            503,
            {"Retry-After": "30"},
        ) from None
    if usage and usage["should_limit"]:
        raise TokenRequestError(
            "too_many_requests",
            "Too many token requests from this address. Wait and try again.",
            429,
            {"Retry-After": str(max(1, int(usage["time_left"])))},
        )


def _form(request: HttpRequest) -> dict[str, str]:
    """The token request's parameters: a form, each name once."""
    if request.content_type != FORM:
        raise TokenRequestError("invalid_request", f"The body must be {FORM}.")
    try:
        length = int(request.headers.get("content-length") or 0)
    except ValueError:
        length = 0
    if length > settings.API_TOKEN_MAX_BODY:
        raise TokenRequestError(
            "invalid_request", f"The body exceeds {settings.API_TOKEN_MAX_BODY} bytes.", 413
        )
    body = request.body
    if len(body) > settings.API_TOKEN_MAX_BODY:
        raise TokenRequestError(
            "invalid_request", f"The body exceeds {settings.API_TOKEN_MAX_BODY} bytes.", 413
        )
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=True, max_num_fields=10
        )
    except (UnicodeDecodeError, ValueError):
        raise TokenRequestError("invalid_request", "The body is not a valid form.") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise TokenRequestError("invalid_request", f"{name} is given more than once.")
        form[name] = value
    return form


def _checked_grant(form: dict[str, str]) -> str:
    """The grant type, once the form holds exactly that grant's parameters."""
    grant_type = form.get("grant_type", "")
    if not grant_type:
        raise TokenRequestError("invalid_request", "grant_type is required.")
    if grant_type not in PARAMETERS:
        raise TokenRequestError(
            "unsupported_grant_type",
            f"grant_type must be one of: {', '.join(grants.GRANT_TYPES)}.",
        )
    if extra := sorted(set(form) - PARAMETERS[grant_type]):
        raise TokenRequestError(
            "invalid_request", f"Not a parameter of this grant: {', '.join(extra)}."
        )
    if missing := sorted(name for name in PARAMETERS[grant_type] if not form.get(name)):
        raise TokenRequestError("invalid_request", f"Missing: {', '.join(missing)}.")
    return grant_type


def _issue(request: HttpRequest, form: dict[str, str], grant_type: str) -> tokens.IssuedPair:
    if grant_type == grants.REFRESH_TOKEN:
        # Not inside a wider transaction: revoking a family on reuse must stay committed
        # although the request fails.
        return tokens.refresh(form["refresh_token"], request=request, confirm=liveness.confirm)
    prove = grants.operator if grant_type == grants.OPERATOR else grants.jwt_bearer
    # Microsoft is asked first, with no transaction open (in the SQLite demo a write
    # transaction would lock out the sandbox's own token endpoint); then the assertion's
    # use, the user, delegated tokens and API tokens are written together, or nothing.
    proof = prove(form["client_id"], form["assertion"])
    with transaction.atomic():
        try:
            tokens.claim_assertion(proof.assertion, proof.assertion_expires_at)
        except tokens.AssertionReplayed:
            raise grants.GrantError(
                "invalid_grant",
                "This assertion was already traded for portal tokens; "
                "get a new one from Microsoft.",
            ) from None
        return tokens.issue(proof.keep(), grant=grants.GRANT_NAMES[grant_type], request=request)


@router.post(
    "/token",
    auth=None,
    by_alias=True,  # .issued and .expires
    summary="Get API tokens",
    description="Trade a Microsoft-issued assertion (grant_type operator or "
    "urn:ietf:params:oauth:grant-type:jwt-bearer) or a portal refresh token "
    "(refresh_token) for a portal access token and refresh token. See docs/api.md.",
    response={200: TokenOut, 400: Error, 401: Error, 413: Error, 429: Error, 503: Error},
    openapi_extra={
        "requestBody": {"required": True, "content": {FORM: {"schema": REQUEST_SCHEMA}}}
    },
)
def token(request: HttpRequest) -> JsonResponse:
    grant_type = ""
    try:
        _rate_limit(request)
        form = _form(request)
        grant_type = form.get("grant_type", "")
        pair = _issue(request, form, _checked_grant(form))
    except (TokenRequestError, grants.GrantError) as exc:
        headers = dict(getattr(exc, "headers", {}))
        if retry_after := getattr(exc, "retry_after", None):
            headers["Retry-After"] = str(retry_after)
        _audit_refusal(request, grant_type, exc.error, exc.description)
        return _answer(
            exc.status, {"error": exc.error, "error_description": exc.description}, headers
        )
    except tokens.TokenRefused as exc:
        _audit_refusal(request, grant_type, "invalid_grant", str(exc))
        return _answer(400, {"error": "invalid_grant", "error_description": str(exc)})
    return _answer(
        200,
        {
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "token_type": "bearer",
            "expires_in": pair.expires_in,
            "userName": pair.user.upn or pair.user.identity,
            ".issued": _timestamp(pair.issued_at),
            ".expires": _timestamp(pair.expires_at),
        },
    )


def _audit_refusal(request: HttpRequest, grant_type: str, error: str, description: str) -> None:
    if error in ("too_many_requests", "temporarily_unavailable"):
        return  # a flood (or an outage) would flood the audit log too
    audit.record(
        "api.token.refused",
        request=request,
        outcome="failure",
        details={
            "grant": grants.GRANT_NAMES.get(grant_type, "unknown"),
            "error": error,
            "description": description[:300],
        },
    )


@router.post(
    "/token/logout",
    auth=BearerToken(),
    response={204: None, 401: Error},
    summary="End the caller's token family",
    description="Revoke the access token of this request and every token of its family "
    "(refresh tokens included), at once, and end the caller's restore sessions (their "
    "running restores go on). Veeam's /v8/token/logout.",
)
def logout(request: HttpRequest) -> Status:
    header = request.headers.get("Authorization", "")
    user = caller(request)
    tokens.end_family(header.partition(" ")[2].strip(), request=request)
    restore_scope.end_explicit_sessions(user)
    return Status(204, None)
