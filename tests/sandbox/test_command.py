"""`manage.py sandbox info` is a contract scripts and tests rely on."""

from __future__ import annotations

import io
import json

import requests
from django.core.management import call_command


def test_info_describes_a_tenant_that_answers_where_it_says(sandbox):
    out = io.StringIO()
    call_command("sandbox", "info", stdout=out)
    info = json.loads(out.getvalue())

    assert info["authority"] == f"https://login.microsoftonline.com/{info['tenant_id']}"
    assert info["portal_api_scope"] == f"api://{info['confidential_client_id']}/access_as_user"
    assert info["ca_bundle"] is None
    alice = next(u for u in info["users"] if u["upn"] == "alice@contoso.example")
    assert set(alice) >= {"upn", "password", "oid", "display_name"}
    dev = next(g for g in info["groups"] if g["display_name"] == "Dev/Team/1")
    assert dev["owners"] == ["carol@contoso.example", "erin@contoso.example"]

    # The token endpoint is where base_url says, and client credentials work there.
    token = requests.post(
        f"{info['base_url']}/{info['tenant_id']}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": info["confidential_client_id"],
            "client_secret": info["confidential_client_secret"],
            "scope": "https://graph.microsoft.com/.default",
        },
        timeout=10,
    ).json()["access_token"]
    me = requests.get(
        f"{info['graph_url']}/users/{alice['upn']}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()
    assert me["id"] == alice["oid"]
