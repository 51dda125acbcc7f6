from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.request import RawPostDataException

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
    if "\x00" in request.path:
        return True
    for key, values in request.GET.lists():
        if "\x00" in key or any("\x00" in value for value in values):
            return True
    content_type = request.content_type or ""
    if request.method in ("GET", "HEAD", "OPTIONS") or not request.headers.get("Content-Length"):
        return False
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
    except RawPostDataException:
        return False
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
