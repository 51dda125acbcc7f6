from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

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
