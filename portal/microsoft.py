"""HTTP to Microsoft (Entra ID and Graph): the one place that knows where Microsoft is.

Every request to Microsoft — msal's and the Graph client's — goes through
`http_session()`. For a real tenant it is a plain `requests.Session` with timeouts. With
MICROSOFT_ROUTES set (the sandbox), Microsoft's host names are sent to other base URLs;
nothing else in the code knows the sandbox exists.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests
import urllib3
from django.conf import settings
from requests.adapters import HTTPAdapter
from requests.utils import DEFAULT_CA_BUNDLE_PATH, get_environ_proxies, select_proxy

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
        return _route(self.routes, url)

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


def _route(routes: dict[str, str], url: str) -> str:
    parts = urlsplit(url)
    base = routes.get(parts.hostname or "")
    if base is None:
        return url
    target = urlsplit(base)
    return urlunsplit(
        (target.scheme, target.netloc, target.path + parts.path, parts.query, parts.fragment)
    )


class Answer:
    """What msal reads of an HTTP answer: status, text and headers."""

    __slots__ = ("headers", "status_code", "text")

    def __init__(self, status_code: int, text: str, headers: Mapping[str, str]) -> None:
        self.status_code = status_code
        self.text = text
        self.headers = headers

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise requests.HTTPError(f"HTTP {self.status_code}")


class LeanSession:
    """An HTTP client for msal on the device-code poller's hot path: one token request per
    poll, hundreds a second. It keeps what MicrosoftSession guarantees (the routes, the
    timeout, the CA bundle, TLS failures named by host, the request metric, Retry-After
    in `last_retry_after`, the environment's proxy settings, requests' exceptions) but
    talks to urllib3 directly: requests' own work per request (environment and proxy
    look-ups, cookie jars, hooks, adapters) was a third of a poll's CPU
    (docs/benchmarks.md). A redirect is not followed: msal gets the 3xx as an (error)
    answer. One thread at a time."""

    def __init__(self, routes: dict[str, str], timeout: float, ca_bundle: str | None) -> None:
        self.routes = routes
        self.timeout = timeout
        self.last_retry_after: float | None = None
        # What requests would verify with: the setting, else its environment variables,
        # else certifi's bundle.
        self.ca_bundle = (
            ca_bundle
            or os.environ.get("REQUESTS_CA_BUNDLE")
            or os.environ.get("CURL_CA_BUNDLE")
            or DEFAULT_CA_BUNDLE_PATH
        )
        self._pools: dict[str, urllib3.PoolManager] = {}

    def _manager(self, url: str) -> urllib3.PoolManager:
        """The connection pools for a URL: direct, or through the proxy the environment
        names for it (requests' rules, looked up once per host rather than per request)."""
        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}"
        manager = self._pools.get(key)
        if manager is None:
            options: dict[str, Any] = {
                "maxsize": 2,
                "cert_reqs": "CERT_REQUIRED",
                "ca_certs": self.ca_bundle,
                "retries": False,
                "timeout": urllib3.Timeout(self.timeout),
            }
            proxy = select_proxy(url, get_environ_proxies(url))
            manager = (
                urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)
            )
            self._pools[key] = manager
        return manager

    def post(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | str | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> Answer:
        body = data if isinstance(data, str) else urlencode(data or {}, doseq=True)
        sent = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        return self._send("POST", url, params, body, sent, kwargs.get("timeout"))

    def get(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> Answer:
        return self._send("GET", url, params, None, dict(headers or {}), kwargs.get("timeout"))

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        body: str | None,
        headers: dict[str, str],
        timeout: float | None,
    ) -> Answer:
        asked_host = urlsplit(url).hostname or ""  # Microsoft's name, before routing
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params, doseq=True)
        target = _route(self.routes, url)
        try:
            response = self._manager(target).request(
                method,
                target,
                body=body,
                headers=headers,
                redirect=False,
                timeout=urllib3.Timeout(timeout) if timeout is not None else None,
            )
        except urllib3.exceptions.SSLError as exc:
            metrics.count_microsoft_request(asked_host, "TLSFailure")
            detail = _tls_detail(exc)
            logger.error(
                "TLS failure talking to %s (sent to %s): %s",
                asked_host,
                urlsplit(target).netloc,
                detail,
            )
            raise TLSFailure(asked_host, detail) from exc
        except urllib3.exceptions.HTTPError as exc:
            error = _as_requests_error(exc)
            metrics.count_microsoft_request(asked_host, type(error).__name__)
            raise error from exc
        metrics.count_microsoft_request(asked_host, response.status)
        answer = Answer(response.status, response.data.decode("utf-8", "replace"), response.headers)
        self.last_retry_after = retry_after_seconds(answer)
        return answer

    def close(self) -> None:
        for manager in self._pools.values():
            manager.clear()
        self._pools.clear()


def _as_requests_error(exc: urllib3.exceptions.HTTPError) -> requests.RequestException:
    """The exception requests raises for the same failure, so callers catch one family."""
    if isinstance(exc, urllib3.exceptions.NewConnectionError):  # (a ConnectTimeoutError too)
        return requests.exceptions.ConnectionError(str(exc))
    if isinstance(exc, urllib3.exceptions.ConnectTimeoutError):
        return requests.exceptions.ConnectTimeout(str(exc))
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
        return requests.exceptions.ReadTimeout(str(exc))
    if isinstance(exc, urllib3.exceptions.ProxyError):
        return requests.exceptions.ProxyError(str(exc))
    return requests.exceptions.ConnectionError(str(exc))


def _tls_detail(exc: Exception) -> str:
    """The reason OpenSSL gave (e.g. "certificate verify failed: self-signed certificate")."""
    text = str(exc)
    for marker in ("certificate verify failed", "hostname mismatch", "wrong version number"):
        if marker in text:
            start = text.index(marker)
            return text[start:].split(")")[0].split("'")[0].rstrip(" (")
    return "TLS handshake failed"


def retry_after_seconds(response: requests.Response | Answer) -> float | None:
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


def lean_session() -> LeanSession:
    """An HTTP client for the device-code poller's token requests (see LeanSession)."""
    return LeanSession(
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
