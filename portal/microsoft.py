"""HTTP to Microsoft (Entra ID and Graph): the one place that knows where Microsoft is.

Every request to Microsoft — msal's and the Graph client's — goes through
`http_session()`. For a real tenant it is a plain `requests.Session` with timeouts. With
MICROSOFT_ROUTES set (the sandbox), Microsoft's host names are sent to other base URLs;
nothing else in the code knows the sandbox exists.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

from portal import metrics

logger = logging.getLogger(__name__)


class TLSFailure(requests.exceptions.SSLError):
    """The TLS handshake with a Microsoft host failed (certificate not trusted, wrong
    name, ...). `host` is the host that was asked for; the message is safe to show."""

    def __init__(self, host: str, detail: str) -> None:
        super().__init__(
            f"The TLS connection to {host} failed: its certificate could not be verified "
            f"({detail}). Check MICROSOFT_CA_BUNDLE and any TLS-inspecting proxy."
        )
        self.host = host


class MicrosoftSession(requests.Session):
    def __init__(self, routes: dict[str, str], timeout: float, ca_bundle: str | None) -> None:
        super().__init__()
        self.routes = routes
        # Retry-After of the last answer (429/503), for callers such as msal that don't
        # expose response headers. A session is used by one thread at a time.
        self.last_retry_after: float | None = None
        self.timeout = timeout
        # Passed with each request: requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the
        # environment override a session's `verify`, but never a request's.
        self.ca_bundle = ca_bundle
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
        if self.ca_bundle:
            kwargs["verify"] = self.ca_bundle
        return super().request(method, url, *args, **kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        # Routing here, not in request(), also covers redirects requests follows itself.
        asked_host = urlsplit(request.url or "").hostname or ""  # Microsoft's name, before routing
        request.url = self.route(request.url or "")
        if self.ca_bundle and kwargs.get("verify") is not False:
            kwargs["verify"] = self.ca_bundle  # redirects too
        try:
            response = super().send(request, **kwargs)
        except requests.exceptions.SSLError as exc:
            metrics.count_microsoft_request(asked_host, "TLSFailure")
            detail = _tls_detail(exc)
            logger.error(
                "TLS failure talking to %s (sent to %s): %s",
                asked_host,
                urlsplit(request.url or "").netloc,
                detail,
            )
            raise TLSFailure(asked_host, detail) from exc
        except requests.RequestException as exc:
            metrics.count_microsoft_request(asked_host, type(exc).__name__)
            raise
        metrics.count_microsoft_request(asked_host, response.status_code)
        self.last_retry_after = retry_after_seconds(response)
        return response


def _tls_detail(exc: Exception) -> str:
    """The reason OpenSSL gave (e.g. "certificate verify failed: self-signed certificate")."""
    text = str(exc)
    for marker in ("certificate verify failed", "hostname mismatch", "wrong version number"):
        if marker in text:
            start = text.index(marker)
            return text[start:].split(")")[0].split("'")[0].rstrip(" (")
    return "TLS handshake failed"


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
    """https://login.microsoftonline.com/<tenant> (or the configured cloud's host)."""
    return f"https://{settings.MICROSOFT_AUTHORITY_HOST}/{tenant or settings.MICROSOFT_TENANT_ID}"


def graph_scope(name: str) -> str:
    """A Graph permission qualified with this cloud's Graph resource."""
    return f"{settings.MICROSOFT_GRAPH_RESOURCE}/{name}"
