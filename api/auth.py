"""Bearer authentication for the API's resources, and role checks.

A request with a valid portal access token acts as its user: `request.user` is set, so
the audit log, rate limits and role checks see the same person the web UI would.
CSRF does not apply: a bearer token is not sent by browsers on their own.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from api import tokens
from api.errors import ApiError, InvalidToken
from authflow.access import has_role
from authflow.models import Role, User


class BearerToken(HttpBearer):
    def __call__(self, request: HttpRequest) -> Any:
        # ninja's own __call__ logs an unexpected Authorization value in DEBUG: never do.
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken()
        return self.authenticate(request, token.strip())

    def authenticate(self, request: HttpRequest, token: str) -> User:
        try:
            user = tokens.authenticate(token)
        except tokens.TokenRefused as exc:
            raise InvalidToken(str(exc)) from None
        request.user = user
        return user


def caller(request: HttpRequest) -> User:
    """The person BearerToken authenticated, on an operation that requires it."""
    # ninja keeps what authenticate() returned as request.auth, which HttpRequest does not
    # declare (ninja has no typed request); only BearerToken sets it, to a User.
    user: User = request.auth  # type: ignore[attr-defined]
    return user


def require_role(request: HttpRequest, role: Role) -> User:
    """The caller, if their role allows `role` (the web UI's rule); else 403."""
    user = caller(request)
    if not has_role(user, role):
        raise ApiError(403, "forbidden", f"This operation is for the {role.label} role.")
    return user
