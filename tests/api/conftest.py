"""The restore operator's side of the API: a script that gets tokens from Microsoft (the
sandbox) over HTTP, exactly as the Veeam seed documents, then talks to the portal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import requests

from api import tokens
from authflow.models import Role, User
from sandbox import constants

GRAPH_SCOPES = "User.Read Mail.ReadWrite Files.ReadWrite offline_access openid profile"


@dataclass
class Operator:
    """A restore operator's script: Microsoft's endpoints, then the portal's."""

    sandbox: Any
    portal_url: str

    def microsoft_tokens(self, alias: str, scope: str) -> dict[str, Any]:
        """Device code at the sandbox, approved as `alias`, redeemed: the JSON response."""
        self.sandbox.policy(slow_down_enabled=False)
        client_id = constants.PUBLIC_CLIENT_ID
        code = requests.post(
            self.sandbox.devicecode_url, data={"client_id": client_id, "scope": scope}, timeout=10
        )
        assert code.status_code == 200, code.text
        flow = code.json()
        self.sandbox.approve(flow["user_code"], alias)
        answer = requests.post(
            self.sandbox.token_url,
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                "client_id": client_id,
                "device_code": flow["device_code"],
            },
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    def api_access_token(self, alias: str) -> str:
        return self.microsoft_tokens(
            alias, f"{self.sandbox.portal_api_scope} openid profile offline_access"
        )["access_token"]

    def token(self, data: dict[str, str] | str, **kwargs: Any) -> requests.Response:
        return requests.post(f"{self.portal_url}/api/v1/token", data=data, timeout=30, **kwargs)

    def get(self, path: str, access_token: str) -> requests.Response:
        return requests.get(
            f"{self.portal_url}/api/v1{path}",
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=30,
        )

    def post(self, path: str, access_token: str, **kwargs: Any) -> requests.Response:
        return requests.post(
            f"{self.portal_url}/api/v1{path}",
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=30,
            **kwargs,
        )


@pytest.fixture(autouse=True)
def generous_token_rate(settings):
    """Tests send many token requests from 127.0.0.1; the rate-limit test sets its own."""
    settings.API_TOKEN_RATE = "10000/m"


@pytest.fixture
def operator(sandbox, live_server) -> Operator:
    return Operator(sandbox, live_server.url)


@pytest.fixture
def identity_of(sandbox):
    def key(alias: str) -> str:
        user = sandbox.user(alias)
        return f"{user.id}.{user.tenant_id}"

    return key


@pytest.fixture
def bearer_for():
    """An API access token for a portal user with the given role (issued directly)."""

    def make(role: Role = Role.END_USER, name: str = "") -> str:
        import uuid

        oid, tid = uuid.uuid4(), uuid.UUID(constants.TENANT_ID)
        name = name or f"{role.value}-{oid.hex[:6]}@contoso.example"
        user = User.objects.create(
            username=f"{oid}.{tid}", oid=oid, tenant_id=tid, upn=name, role=role
        )
        return tokens.issue(user, grant="operator").access_token

    return make
