"""The sandbox's own browser session ("signed in to Microsoft") and signed page state.

Separate from the portal's session: its own cookie, scoped to the sandbox's login path.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from sandbox.models import DirectoryUser

COOKIE = "sandbox-sso"
SESSION_MAX_AGE = 12 * 3600
STATE_MAX_AGE = 20 * 60


def signed_in_user(request: HttpRequest) -> tuple[DirectoryUser, datetime] | None:
    """The user signed in to the sandbox in this browser, if the session is still good."""
    value = request.COOKIES.get(COOKIE)
    if not value:
        return None
    try:
        data = signing.loads(value, salt="sandbox.sso", max_age=SESSION_MAX_AGE)
    except signing.BadSignature:
        return None
    user = DirectoryUser.objects.select_related("tenant").filter(pk=data.get("uid")).first()
    if user is None or not user.account_enabled:
        return None
    auth_time = datetime.fromtimestamp(data["at"], tz=UTC)
    # A password change or "revoke sessions" signs the browser out too.
    if auth_time < user.sign_in_sessions_valid_from:
        return None
    return user, auth_time


def _cookie_path() -> str:
    return urlsplit(settings.SANDBOX_PUBLIC_URL).path.rstrip("/") + "/login/"


def sign_in(response: HttpResponse, user: DirectoryUser) -> datetime:
    auth_time = timezone.now()
    value = signing.dumps({"uid": str(user.pk), "at": auth_time.timestamp()}, salt="sandbox.sso")
    response.set_cookie(
        COOKIE,
        value,
        max_age=SESSION_MAX_AGE,
        path=_cookie_path(),
        secure=settings.SANDBOX_PUBLIC_URL.startswith("https"),
        httponly=True,
        samesite="Lax",
    )
    return auth_time


def sign_out(response: HttpResponse) -> None:
    response.delete_cookie(COOKIE, path=_cookie_path())


def dump_state(data: dict[str, Any], purpose: str) -> str:
    return signing.dumps(data, salt=f"sandbox.{purpose}", compress=True)


def load_state(value: str, purpose: str) -> dict[str, Any] | None:
    try:
        return signing.loads(value, salt=f"sandbox.{purpose}", max_age=STATE_MAX_AGE)
    except signing.BadSignature:
        return None
