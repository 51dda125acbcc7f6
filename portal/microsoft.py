"""HTTP to Microsoft (Entra ID and Graph): the one place that knows where Microsoft is.

Every request to Microsoft — msal's and the Graph client's — goes through
`http_session()`. For a real tenant it is a plain `requests.Session` with timeouts. With
MICROSOFT_ROUTES set (the sandbox), Microsoft's host names are sent to other base URLs;
nothing else in the code knows the sandbox exists.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

from portal import metrics


class MicrosoftSession(requests.Session):
    def __init__(self, routes: dict[str, str], timeout: float, ca_bundle: str | None) -> None:
        super().__init__()
        self.routes = routes
        # Retry-After of the last answer (429/503), for callers such as msal that don't
        # expose response headers. A session is used by one thread at a time.
        self.last_retry_after: float | None = None
        self.timeout = timeout
        if ca_bundle:
            self.verify = ca_bundle
        # msal and the Graph client run many requests per session: keep connections.
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=32)
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def route(self, url: str) -> str:
        parts = urlsplit(url)
        base = self.routes.get(parts.hostname or "")
        if base is None:
            return url
        target = urlsplit(base)
        return urlunsplit(
            (target.scheme, target.netloc, target.path + parts.path, parts.query, parts.fragment)
        )

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        # Routing here, not in request(), also covers redirects requests follows itself.
        host = urlsplit(request.url or "").hostname or ""  # Microsoft's name, before routing
        request.url = self.route(request.url or "")
        try:
            response = super().send(request, **kwargs)
        except requests.RequestException as exc:
            metrics.count_microsoft_request(host, type(exc).__name__)
            raise
        metrics.count_microsoft_request(host, response.status_code)
        self.last_retry_after = retry_after_seconds(response)
        return response


def retry_after_seconds(response: requests.Response) -> float | None:
    """Retry-After as seconds (Microsoft sends a number of seconds), or None."""
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def http_session() -> MicrosoftSession:
    return MicrosoftSession(
        routes=settings.MICROSOFT_ROUTES,
        timeout=settings.MICROSOFT_HTTP_TIMEOUT,
        ca_bundle=settings.MICROSOFT_CA_BUNDLE,
    )


def authority_url(tenant: str | None = None) -> str:
    """https://login.microsoftonline.com/<tenant> (or the sovereign cloud's host)."""
    return f"https://{settings.MICROSOFT_AUTHORITY_HOST}/{tenant or settings.MICROSOFT_TENANT_ID}"
