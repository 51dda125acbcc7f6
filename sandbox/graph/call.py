"""One Graph operation being served, as every handler sees it, and the JSON answer.

The handlers (mail, drive, directory, batch) import this, never views.py: views routes
to them (through routes.py), so they sit below it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, HttpResponse

from sandbox.graph import errors
from sandbox.graph.auth import Caller
from sandbox.graph.errors import JSON_CONTENT_TYPE
from sandbox.models import Calendar, DirectoryUser, Drive


@dataclass
class Call:
    """One Graph operation being served: who asks, what they addressed, what they sent."""

    request: HttpRequest
    caller: Caller
    params: dict[str, str]
    # The pipeline that serves one Graph operation (views.handle): $batch runs its inner
    # requests through it without importing the module that routes to $batch.
    serve: Callable[[HttpRequest, str, str], HttpResponse] = field(repr=False)
    mailbox: DirectoryUser | None = None
    drive: Drive | None = None
    # /groups/{id}/calendar, /groups/{id}/events…: the group's calendar (resolved, and
    # access-checked, before the handler runs).
    group_calendar: Calendar | None = None
    _json: Any = field(default=None, repr=False)

    @property
    def query(self) -> Any:
        return self.request.GET

    @property
    def owner(self) -> DirectoryUser:
        """The mailbox a mail route addressed (resolved before the handler runs)."""
        if self.mailbox is None:
            raise errors.not_found(errors.MAIL)
        return self.mailbox

    @property
    def target_drive(self) -> Drive:
        if self.drive is None:
            raise errors.not_found(errors.DRIVE)
        return self.drive

    def json(self) -> dict[str, Any]:
        if self._json is None:
            try:
                self._json = json.loads(self.request.read() or b"{}")
            except (ValueError, UnicodeDecodeError):
                raise errors.bad_request(
                    "Unable to read JSON request payload. Please ensure Content-Type header is "
                    "set and payload is of valid JSON format."
                ) from None
            if not isinstance(self._json, dict):
                raise errors.bad_request("The request payload must be a JSON object.")
        return self._json


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> HttpResponse:
    response = HttpResponse(
        json.dumps(body, default=str), status=status, content_type=JSON_CONTENT_TYPE
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response
