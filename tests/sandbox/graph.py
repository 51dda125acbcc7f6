"""Helpers for the Graph tests: tokens from unmodified msal, a thin Graph client.

Everything goes through portal.microsoft.http_session(), as the portal's own Graph calls
do: URLs have Microsoft's real form and the session routes them to the sandbox.
"""

from __future__ import annotations

from typing import Any

import msal
import requests

from portal.microsoft import authority_url, http_session

GRAPH = "https://graph.microsoft.com/v1.0"
PORTAL_SCOPES = ["User.Read", "Mail.ReadWrite", "Files.ReadWrite"]


def app_token(sandbox, tenant_id: str | None = None) -> str:
    """An app-only Graph token (client credentials) of the portal's confidential app."""
    app = msal.ConfidentialClientApplication(
        sandbox.confidential_client_id,
        client_credential=sandbox.confidential_client_secret,
        authority=authority_url(tenant_id or sandbox.tenant_id),
        http_client=http_session(),
    )
    result = app.acquire_token_for_client(["https://graph.microsoft.com/.default"])
    assert "access_token" in result, result.get("error_description")
    return result["access_token"]


def user_token(
    sandbox, alias: str, scopes: list[str] | None = None, tenant_id: str | None = None
) -> str:
    """A delegated Graph token for `alias`, through the device code flow."""
    app = msal.PublicClientApplication(
        sandbox.public_client_id,
        authority=authority_url(tenant_id or sandbox.tenant_id),
        http_client=http_session(),
    )
    flow = app.initiate_device_flow(scopes=scopes or PORTAL_SCOPES)
    sandbox.approve(flow["user_code"], alias)
    result = app.acquire_token_by_device_flow(flow, exit_condition=lambda f: True)
    assert "access_token" in result, result.get("error_description")
    return result["access_token"]


class Graph:
    """Requests to https://graph.microsoft.com/v1.0 with a bearer token."""

    def __init__(self, token: str | None) -> None:
        self.token = token
        self.session = http_session()

    def url(self, path: str) -> str:
        return path if path.startswith("https://") else f"{GRAPH}/{path.lstrip('/')}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        kwargs.setdefault("allow_redirects", False)
        return self.session.request(method, self.url(path), headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        assert response.status_code < 300, (response.status_code, response.text)
        return response.json() if response.content else None

    def all(
        self, path: str, key: str = "@odata.nextLink", **kwargs: Any
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Follow nextLinks; return every item and the last page (with its deltaLink)."""
        items: list[dict[str, Any]] = []
        page = self.ok("GET", path, **kwargs)
        items += page["value"]
        while key in page:
            page = self.ok("GET", page[key], **kwargs)
            items += page["value"]
        return items, page


def error_code(response: requests.Response) -> str:
    return response.json()["error"]["code"]
