from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

# Accept a caller's request id only if it looks like one (it ends up in logs and audit).
_VALID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class CorrelationIdMiddleware:
    """Give every request a correlation id (X-Request-ID if sane), echoed in the response.

    The audit log and background jobs carry it, so one action can be followed end to end.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        supplied = request.headers.get("X-Request-ID", "")
        correlation = supplied if _VALID.match(supplied) else str(uuid.uuid4())
        # HttpRequest declares no such attribute: audit.correlation_id() reads it by getattr.
        request.correlation_id = correlation  # type: ignore[attr-defined]
        response = self.get_response(request)
        response["X-Correlation-ID"] = correlation
        return response
