"""The demo's embedded Microsoft settings name the tenant and apps the sandbox serves.

portal/settings.py writes the sandbox tenant's ids out instead of importing them (the
product imports nothing of the sandbox); these tests keep the two copies in step, first
as values, then over HTTP: the sandbox must issue tokens to exactly those apps.
"""

from __future__ import annotations

import jwt
import msal

from portal.microsoft import authority_url, http_session
from sandbox import constants
from tests.portal.test_settings import load_settings


def test_demo_settings_name_the_sandbox_tenant_and_its_apps(monkeypatch, tmp_path):
    demo = load_settings(monkeypatch, tmp_path)
    assert demo["SANDBOX_ENABLED"] is True
    assert demo["MICROSOFT_TENANT_ID"] == constants.TENANT_ID
    assert demo["MICROSOFT_CLIENT_ID"] == constants.CONFIDENTIAL_CLIENT_ID
    assert demo["MICROSOFT_PUBLIC_CLIENT_ID"] == constants.PUBLIC_CLIENT_ID
    assert demo["MICROSOFT_CLIENT_SECRET"] == constants.CONFIDENTIAL_CLIENT_SECRET
    assert demo["MICROSOFT_ALLOWED_TENANT_IDS"] == [constants.TENANT_ID]


def test_the_sandbox_serves_the_apps_the_demo_settings_name(sandbox, monkeypatch, tmp_path):
    demo = load_settings(monkeypatch, tmp_path)
    authority = authority_url(demo["MICROSOFT_TENANT_ID"])

    confidential = msal.ConfidentialClientApplication(
        demo["MICROSOFT_CLIENT_ID"],
        client_credential=demo["MICROSOFT_CLIENT_SECRET"],
        authority=authority,
        http_client=http_session(),
    )
    result = confidential.acquire_token_for_client(["https://graph.microsoft.com/.default"])
    assert "access_token" in result, result.get("error_description")
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert (claims["tid"], claims["appid"]) == (
        demo["MICROSOFT_TENANT_ID"],
        demo["MICROSOFT_CLIENT_ID"],
    )

    public = msal.PublicClientApplication(
        demo["MICROSOFT_PUBLIC_CLIENT_ID"], authority=authority, http_client=http_session()
    )
    flow = public.initiate_device_flow(scopes=["User.Read"])
    assert flow.get("user_code"), flow.get("error_description")
