from __future__ import annotations

import functools
import logging
import re
import time
import uuid
import zoneinfo
from collections.abc import Callable

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.request import RawPostDataException
from django.utils import timezone

from portal import logging as structured_logging
from portal import metrics

# Accept a caller's request id only if it looks like one (it ends up in logs and audit).
_VALID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

access_log = logging.getLogger("lifeboat.access")


class CorrelationIdMiddleware:
    """Give every request a correlation id (X-Request-ID if sane), echoed in the response.

    The audit log, every log line of the request (`request_id`) and background jobs carry
    it, so one action can be followed end to end. The middleware also writes the access
    log line (path only: query strings can carry OAuth codes) and times the request for
    the metrics, by the view that answered.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        supplied = request.headers.get("X-Request-ID", "")
        correlation = supplied if _VALID.match(supplied) else str(uuid.uuid4())
        # HttpRequest declares no such attribute: audit.correlation_id() reads it by getattr.
        request.correlation_id = correlation  # type: ignore[attr-defined]
        structured_logging.clear()
        structured_logging.bind(request_id=correlation)
        started = time.monotonic()
        response = self.get_response(request)
        elapsed = time.monotonic() - started
        match = getattr(request, "resolver_match", None)
        view = match.view_name if match and match.view_name else "unmatched"
        metrics.observe_request(view, request.method or "", response.status_code, elapsed)
        access_log.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={"status": response.status_code, "duration_ms": round(elapsed * 1000, 1)},
        )
        response["X-Correlation-ID"] = correlation
        return response


NUL_REFUSED = "The request contains a NUL character (0x00), which no field accepts."
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _carries_nul(request: HttpRequest) -> bool:
    """NUL in the path or query string of any request, or in the body of an API request.

    Web forms need no body check here (Django's form fields refuse NUL themselves), and
    reading a body early would change when other views see it: only the API's bodies,
    which are small (the token endpoint caps them) and JSON or forms, are read here."""
    if "\x00" in request.path:
        return True
    for key, values in request.GET.lists():
        if "\x00" in key or any("\x00" in value for value in values):
            return True
    if not request.path.startswith("/api/") or request.method in ("GET", "HEAD", "OPTIONS"):
        return False
    content_type = request.content_type or ""
    try:
        if content_type.startswith(_FORM_TYPES):
            return any(
                "\x00" in key or any("\x00" in value for value in values)
                for key, values in request.POST.lists()
            )
        if content_type.endswith("json"):
            # JSON spells NUL as an escape (an odd number of backslashes before u0000);
            # a raw 0x00 byte is not JSON at all, and refused with it.
            return b"\x00" in request.body or bool(_JSON_NUL.search(request.body))
    except (RawPostDataException, RequestDataTooBig):
        return False  # the view answers these as it always did
    return False


class RejectNulMiddleware:
    """Refuse, with 400, any request whose path, query or body holds a NUL character.

    PostgreSQL text cannot store NUL, and no name, search term or id Lifeboat handles may
    contain one, so the request is refused here, once, before a view could pass the value
    to a query or to Graph (a 500 otherwise). The API answers in its own error shape.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _carries_nul(request):
            if request.path.startswith("/api/"):
                response: HttpResponse = JsonResponse(
                    {"error": "invalid_request", "error_description": NUL_REFUSED}, status=400
                )
                response["Cache-Control"] = "no-store"
                return response
            return HttpResponse(NUL_REFUSED, status=400, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


TIME_ZONE_COOKIE = "lifeboat-tz"


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def time_zone_named(name: str) -> zoneinfo.ZoneInfo | None:
    """The IANA time zone `name`, or None for anything else (never an error)."""
    if name not in _time_zones():
        return None
    return zoneinfo.ZoneInfo(name)


class TimeZoneMiddleware:
    """Show times in the person's time zone: the `lifeboat-tz` cookie, which the browser
    sets from its own zone (static/js/portal.js) and the profile page can change; any
    value that is not an IANA zone name is ignored (TIME_ZONE then)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone = time_zone_named(request.COOKIES.get(TIME_ZONE_COOKIE, "")[:64])
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
