"""Graph-shaped errors: {"error": {"code", "message", "innerError": {date, request-id, ...}}}.

Each Graph workload words its errors its own way: the directory says
Authorization_RequestDenied and Request_ResourceNotFound, Outlook says ErrorAccessDenied
and ErrorItemNotFound, OneDrive says accessDenied and itemNotFound. The helpers below
take the workload so handlers don't have to remember which is which.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

JSON_CONTENT_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
    "charset=utf-8"
)

DIRECTORY, MAIL, DRIVE = "directory", "mail", "drive"


class GraphError(Exception):
    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self, request: HttpRequest) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "date": timezone.now().strftime("%Y-%m-%dT%H:%M:%S"),
                    "request-id": request_id(request),
                    "client-request-id": client_request_id(request),
                },
            }
        }

    def response(self, request: HttpRequest) -> HttpResponse:
        response = HttpResponse(
            json.dumps(self.body(request)), status=self.status, content_type=JSON_CONTENT_TYPE
        )
        for name, value in self.headers.items():
            response[name] = value
        return response


def request_id(request: HttpRequest) -> str:
    """One id per request, as Graph's request-id header (kept on the request object)."""
    value = getattr(request, "graph_request_id", None)
    if value is None:
        value = str(uuid.uuid4())
        # HttpRequest declares no such attribute: kept on the request for its lifetime.
        request.graph_request_id = value  # type: ignore[attr-defined]
    return str(value)


def client_request_id(request: HttpRequest) -> str:
    return request.headers.get("client-request-id") or request_id(request)


def unauthenticated(message: str) -> GraphError:
    return GraphError(401, "InvalidAuthenticationToken", message)


def bad_request(message: str, code: str = "BadRequest") -> GraphError:
    return GraphError(400, code, message)


def access_denied(workload: str) -> GraphError:
    if workload == DIRECTORY:
        return GraphError(
            403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
        )
    if workload == MAIL:
        return GraphError(
            403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
        )
    return GraphError(403, "accessDenied", "Access denied")


def not_found(workload: str, what: str = "") -> GraphError:
    if workload == DIRECTORY:
        return GraphError(
            404,
            "Request_ResourceNotFound",
            f"Resource '{what}' does not exist or one of its queried reference-property objects "
            "are not present.",
        )
    if workload == MAIL:
        return GraphError(
            404, "ErrorItemNotFound", "The specified object was not found in the store."
        )
    return GraphError(404, "itemNotFound", "The resource could not be found.")


def invalid_user(reference: str) -> GraphError:
    """Outlook's answer for a mailbox address that names nobody in the tenant."""
    return GraphError(404, "ErrorInvalidUser", f"The requested user '{reference}' is invalid.")


def no_route(request: HttpRequest) -> GraphError:
    return GraphError(
        400,
        "BadRequest",
        f"Resource not found for the segment '{request.path.rstrip('/').rsplit('/', 1)[-1]}'.",
    )


def method_not_allowed() -> GraphError:
    return GraphError(
        405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target."
    )
