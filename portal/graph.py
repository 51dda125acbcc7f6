"""A small Microsoft Graph client: JSON requests, paging, throttling, typed errors.

Tokens come from a provider callable (delegated: authflow.tokens.access_token; app-only:
authflow.flows.app_only_token), asked again for each attempt so a refreshed token is used;
after a 401 it is asked once with force=True for a new one (the cached token may have been
revoked, or signed with a key the tenant no longer publishes).

Continuous access evaluation: a 401 carrying a claims challenge (`WWW-Authenticate: Bearer
..., error="insufficient_claims", claims="<base64 JSON>"`) is answered once by asking the
provider with claims=<the decoded JSON> (msal then redeems the refresh token with those
claims). If Graph challenges that token too, `on_unanswered_challenge` is told (it ends the
person's access and raises) before ClaimsChallenged is raised.
HTTP goes through portal.microsoft.http_session(), like everything that talks to Microsoft.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests
from django.conf import settings

from portal.microsoft import MicrosoftSession, http_session, retry_after_seconds

logger = logging.getLogger(__name__)

RETRYABLE_STATUSES = {429, 503, 504}
MAX_BATCH = 20  # Graph's $batch limit
MAX_BATCH_ROUNDS = 5


class GraphError(Exception):
    """Graph answered with an error. `code` is Graph's error code (e.g. ErrorItemNotFound)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"Graph {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    @classmethod
    def from_response(cls, response: requests.Response) -> GraphError:
        try:
            error = response.json().get("error", {})
        except ValueError:
            error = {}
        return cls(
            response.status_code,
            str(error.get("code", "")) or response.reason or "error",
            str(error.get("message", ""))[:500],
        )

    @classmethod
    def from_batch(cls, status: int, body: Any) -> GraphError:
        """An inner answer of `$batch` (GraphClient.get_many) that failed."""
        error = body.get("error", {}) if isinstance(body, dict) else {}
        return cls(status, str(error.get("code", "")), str(error.get("message", ""))[:300])

    @property
    def is_not_found(self) -> bool:
        return self.status == 404


class ClaimsChallenged(GraphError):
    """Graph still asks for claims after the one answer this client gives (CAE)."""


_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


def claims_challenge(response: requests.Response) -> str | None:
    """The decoded claims of a CAE claims challenge (a 401 whose WWW-Authenticate says
    error="insufficient_claims"), or None for any other answer."""
    if response.status_code != 401:
        return None
    header = response.headers.get("WWW-Authenticate", "")
    if not header.lower().startswith("bearer"):
        return None
    params = dict(_CHALLENGE_PARAM.findall(header))
    if params.get("error") != "insufficient_claims" or not params.get("claims"):
        return None
    encoded = params["claims"]
    try:
        decoded = base64.urlsafe_b64decode(
            encoded.replace("+", "-").replace("/", "_") + "=" * (-len(encoded) % 4)
        ).decode("utf-8")
        json.loads(decoded)
    except ValueError:
        return None
    return decoded


class GraphThrottled(GraphError):
    """Still throttled after the retries this client is allowed."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None) -> None:
        super().__init__(status, code, message)
        self.retry_after = retry_after


class GraphClient:
    def __init__(
        self,
        token: Callable[..., str],
        *,
        session: MicrosoftSession | None = None,
        max_retries: int = 4,
        max_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        on_unanswered_challenge: Callable[[], None] | None = None,
    ) -> None:
        self._token = token
        self._on_unanswered_challenge = on_unanswered_challenge
        self.session = session or http_session()
        self.max_retries = max_retries
        self.max_wait = max_wait
        self._sleep = sleep
        # Called with the size of each PATCH, POST or PUT body before it is sent (a
        # restore spaces its uploads to Outlook's budget: restore/jobs/throttle.py).
        self.before_upload: Callable[[int], None] | None = None

    def url(self, path: str) -> str:
        if path.startswith("https://") or path.startswith("http://"):
            return path
        return f"{settings.MICROSOFT_GRAPH_URL}/{path.lstrip('/')}"

    def request(
        self, method: str, path: str, *, authenticate: bool = True, **kwargs: Any
    ) -> requests.Response:
        """Send a request, honouring Retry-After on 429/503/504; raise GraphError on failure."""
        headers = dict(kwargs.pop("headers", None) or {})
        upload = 0
        if self.before_upload is not None and method.upper() in ("PATCH", "POST", "PUT"):
            if kwargs.get("json") is not None:  # serialised once, to know its size
                kwargs["data"] = json.dumps(kwargs.pop("json"), allow_nan=False).encode()
                headers.setdefault("Content-Type", "application/json")
            upload = len(kwargs.get("data") or b"")
        force_new_token = False
        claims: str | None = None
        for attempt in range(self.max_retries + 1):
            if authenticate:
                token = (
                    self._token(force=True, claims=claims)
                    if claims
                    else self._token(force=force_new_token)
                )
                headers["Authorization"] = f"Bearer {token}"
            if upload and self.before_upload is not None:
                self.before_upload(upload)
            response = self.session.request(method, self.url(path), headers=headers, **kwargs)
            if response.status_code == 401 and authenticate:
                challenge = claims_challenge(response)
                if challenge and claims is None:
                    logger.info("Graph sent a claims challenge; asking for a new token with it")
                    claims = challenge
                    continue
                if challenge:
                    if self._on_unanswered_challenge is not None:
                        self._on_unanswered_challenge()
                    error = GraphError.from_response(response)
                    raise ClaimsChallenged(error.status, error.code, error.message)
                if not force_new_token:
                    force_new_token = True
                    continue
            if response.status_code not in RETRYABLE_STATUSES:
                break
            wait = retry_after_seconds(response)
            if wait is None:
                wait = min(self.max_wait, 2**attempt + random.random())  # noqa: S311
            if attempt == self.max_retries or wait > self.max_wait:
                error = GraphError.from_response(response)
                raise GraphThrottled(error.status, error.code, error.message, wait)
            logger.info("Graph answered %s; retrying in %.1f s", response.status_code, wait)
            self._sleep(wait)
        if response.status_code >= 400:
            raise GraphError.from_response(response)
        return response

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        return self.request("GET", path, params=params or None).json()

    def post(self, path: str, body: Any = None, **kwargs: Any) -> dict[str, Any]:
        response = self.request("POST", path, json=body, **kwargs)
        return response.json() if response.content else {}

    def patch(self, path: str, body: Any) -> dict[str, Any]:
        response = self.request("PATCH", path, json=body)
        return response.json() if response.content else {}

    def delete(self, path: str) -> None:
        self.request("DELETE", path)

    def put_fragment(
        self, upload_url: str, chunk: bytes, start: int, total: int
    ) -> requests.Response:
        """Send bytes `start`… of `total` to an upload session (file or attachment). Its
        URL carries its own authorization, so no bearer token goes with it."""
        return self.request(
            "PUT",
            upload_url,
            authenticate=False,
            data=chunk,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"bytes {start}-{start + len(chunk) - 1}/{total}",
            },
        )

    def get_many(self, urls: dict[str, str]) -> dict[str, tuple[int, Any]]:
        """GET each relative url through `$batch`, 20 at a time: {key: (status, body)}.

        Graph throttles each inner request on its own: an inner 429/503/504 carries its
        own Retry-After while its neighbours succeed, so only those are sent again, after
        waiting. Other statuses are returned for the caller to judge. Non-JSON bodies
        (`$value`) come base64-encoded, as Graph sends them. Keys must be short strings.
        """
        results: dict[str, tuple[int, Any]] = {}
        pending = dict(urls)
        for _round in range(MAX_BATCH_ROUNDS):
            if not pending:
                return results
            wait = 0.0
            keys = list(pending)
            for start in range(0, len(keys), MAX_BATCH):
                chunk = keys[start : start + MAX_BATCH]
                answer = self.post(
                    "$batch",
                    {"requests": [{"id": k, "method": "GET", "url": pending[k]} for k in chunk]},
                )
                for response in answer.get("responses", []):
                    key, status = str(response.get("id")), int(response.get("status", 500))
                    if status in RETRYABLE_STATUSES:
                        headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
                        try:
                            wait = max(wait, float(headers.get("retry-after", 1)))
                        except ValueError:
                            wait = max(wait, 1.0)
                        continue
                    results[key] = (status, response.get("body"))
                    pending.pop(key, None)
            if pending:
                self._sleep(min(wait or 1.0, self.max_wait))
        if pending:
            raise GraphThrottled(
                429, "ApplicationThrottled", "Still throttled after retries.", None
            )
        return results

    def pages(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Each page of a collection, following @odata.nextLink."""
        page = self.get(path, **params)
        yield page
        while next_link := page.get("@odata.nextLink"):
            page = self.get(next_link)
            yield page

    def iterate(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a collection, across pages."""
        for page in self.pages(path, **params):
            yield from page.get("value", [])
