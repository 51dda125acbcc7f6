"""One error shape for the whole API: RFC 6749's {"error", "error_description"}.

The token endpoint answers OAuth errors; resource endpoints use the same two fields
(`invalid_token`, `forbidden`, `not_found`, `invalid_request`, ...), so a client needs
one parser. Nothing here ever echoes a token.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.http.response import HttpResponseBase
from django.urls import URLPattern, URLResolver, re_path
from django.views.decorators.csrf import csrf_exempt
from ninja import Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

if TYPE_CHECKING:
    from ninja import NinjaAPI

REALM = "Lifeboat"
ERROR_NAMES = {
    400: "invalid_request",
    401: "invalid_token",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "request_too_large",
    429: "too_many_requests",
    502: "bad_gateway",
    503: "temporarily_unavailable",
}


class Error(Schema):
    error: str
    error_description: str


class InvalidToken(AuthenticationError):
    """No usable bearer token: 401 with WWW-Authenticate (RFC 6750 §3)."""

    def __init__(self, description: str = "A bearer access token is required.") -> None:
        super().__init__(401, description)


class ApiError(HttpError):
    """An error with an explicit code (and optional headers, such as Retry-After)."""

    def __init__(
        self,
        status: int,
        error: str,
        description: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, description)
        self.error = error
        self.headers = headers or {}


def error_response(
    api: NinjaAPI,
    request: HttpRequest,
    status: int,
    error: str,
    description: str,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    response = api.create_response(
        request, {"error": error, "error_description": description}, status=status
    )
    response["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _summary(exc: ValidationError) -> str:
    parts = []
    for item in exc.errors[:5]:
        where = ".".join(str(p) for p in item.get("loc", ()) if p not in ("body", "payload"))
        parts.append(f"{where or 'body'}: {item.get('msg', 'invalid')}")
    return "; ".join(parts) or "The request is not valid."


def install(api: NinjaAPI) -> None:
    """Replace ninja's default error answers with the API's shape."""

    def on_invalid_token(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        description = str(exc) if isinstance(exc, InvalidToken) else "A bearer token is required."
        challenge = f'Bearer realm="{REALM}", error="invalid_token"'
        return error_response(
            api, request, 401, "invalid_token", description, {"WWW-Authenticate": challenge}
        )

    @api.exception_handler(HttpError)
    def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        if isinstance(exc, AuthenticationError):
            return on_invalid_token(request, exc)
        status = exc.status_code
        error = getattr(exc, "error", ERROR_NAMES.get(status, "error"))
        return error_response(api, request, status, error, str(exc), getattr(exc, "headers", None))

    @api.exception_handler(ValidationError)
    def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        return error_response(api, request, 400, "invalid_request", _summary(exc))

    @api.exception_handler(Http404)
    def on_not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
        # Scope's 404s say the same for a missing and an out-of-scope id.
        return error_response(api, request, 404, "not_found", str(exc) or "Not found.")


def json_errors_for_unrouted(
    api: NinjaAPI, patterns: list[URLPattern | URLResolver]
) -> list[URLPattern | URLResolver]:
    """The API's URL patterns, answering in the API's shape where ninja and Django would
    not: a method the path does not take is a JSON 405 (with Allow), and a path that is no
    operation is a JSON 404, rather than Django's HTML pages."""

    def json_405(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponseBase:
            answer = view(request, *args, **kwargs)
            if isinstance(answer, HttpResponseNotAllowed):
                description = f"{request.method} is not allowed here; use {answer['Allow']}."
                return error_response(
                    api, request, 405, "method_not_allowed", description, {"Allow": answer["Allow"]}
                )
            return answer

        return wrapper

    @csrf_exempt
    def unknown(request: HttpRequest, rest: str = "") -> HttpResponse:
        return error_response(api, request, 404, "not_found", "No such API operation.")

    wrapped: list[URLPattern | URLResolver] = []
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            pattern.callback = json_405(pattern.callback)
        wrapped.append(pattern)
    return [*wrapped, re_path(r"^(?P<rest>.*)$", unknown)]


# Responses every authenticated operation can give, for the OpenAPI document.
AUTH_ERRORS: dict[int, type[Error]] = {400: Error, 401: Error}
