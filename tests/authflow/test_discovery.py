"""The tenant's discovery document decides issuer and endpoints; a bad one refuses
sign-in with a reason an administrator can act on, never a fallback (authflow.discovery).

Bad documents are served for real by a small HTTP server the authority host is routed to.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from authflow import discovery, flows, signins
from authflow.models import SignIn

TENANT = "5b7c2f1e-8d4a-4c3b-9e6f-1a2b3c4d5e6f"


def good_document(issuer: str) -> dict:
    base = f"https://login.microsoftonline.com/{TENANT}"
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        "token_endpoint": f"{base}/oauth2/v2.0/token",
        "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
        "jwks_uri": f"{base}/discovery/v2.0/keys",
        "response_types_supported": ["code"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }


class Served:
    """An HTTP server answering every GET with `status` and `body`."""

    def __init__(self) -> None:
        self.status, self.body = 200, b"{}"
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(served.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(served.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def answer(self, body, status: int = 200) -> None:
        self.status = status
        self.body = body if isinstance(body, bytes) else json.dumps(body).encode()


@pytest.fixture
def served(settings):
    from django.core.cache import cache

    server = Served()
    settings.MICROSOFT_TENANT_ID = TENANT
    settings.MICROSOFT_ALLOWED_TENANT_IDS = [TENANT]
    settings.MICROSOFT_AUTHORITY_HOST = "login.microsoftonline.com"
    settings.MICROSOFT_ISSUER_HOSTS = ["login.microsoftonline.com"]
    settings.MICROSOFT_ROUTES = {"login.microsoftonline.com": server.url}
    cache.clear()
    yield server
    server.server.shutdown()


BAD = {
    "missing (404)": (
        b'{"error":"invalid_tenant"}',
        404,
        "answered 404: there is no OpenID configuration for tenant",
    ),
    "not JSON": (b"<html>login</html>", 200, "did not answer with JSON"),
    "not an object": (b"[1, 2]", 200, "is not a JSON object"),
    "no jwks_uri": (
        {k: v for k, v in good_document("x").items() if k != "jwks_uri"},
        200,
        "lacks jwks_uri (required by OpenID Connect Discovery)",
    ),
    "another tenant's issuer": (
        good_document("https://login.microsoftonline.com/9c8d7e6f-5a4b-4c3d-8e2f-0a1b2c3d4e5f/v2.0"),
        200,
        f"it names tenant 9c8d7e6f-5a4b-4c3d-8e2f-0a1b2c3d4e5f, not {TENANT}",
    ),
    "another host's issuer": (
        good_document(f"https://login.evil.example/{TENANT}/v2.0"),
        200,
        "its host is not login.microsoftonline.com",
    ),
    "a template for one tenant": (
        good_document("https://login.microsoftonline.com/{tenantid}/v2.0"),
        200,
        "it names tenant {tenantid}, not",
    ),
    "http endpoints": (
        {**good_document(f"https://login.microsoftonline.com/{TENANT}/v2.0"),
         "token_endpoint": "http://login.microsoftonline.com/token"},
        200,
        "token_endpoint that are not https URLs",
    ),
}  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize("case", BAD)
def test_a_bad_discovery_document_refuses_sign_in_with_the_reason(served, case, caplog):
    body, status, reason = BAD[case]
    served.answer(body, status)
    caplog.set_level(logging.ERROR, logger="authflow.flows")

    with pytest.raises(flows.FlowError) as refused:
        signins.start_device_sign_in()
    assert refused.value.error == "discovery"
    assert reason in str(refused.value)
    assert not SignIn.objects.exists()
    assert reason in caplog.text  # logged for the administrator too


@pytest.mark.django_db
def test_the_sign_in_page_shows_the_reason(served, client):
    served.answer(good_document(f"https://login.evil.example/{TENANT}/v2.0"))
    page = client.post("/auth/sign-in/code", {"next": "/"})
    assert page.status_code == 502
    assert "its host is not login.microsoftonline.com" in page.content.decode()
    browser = client.get("/auth/sign-in/microsoft")
    assert browser.status_code == 502
    assert "its host is not login.microsoftonline.com" in browser.content.decode()


def test_entras_multi_tenant_template_and_domain_documents(settings):
    settings.MICROSOFT_ISSUER_HOSTS = ["login.microsoftonline.com"]
    template = good_document("https://login.microsoftonline.com/{tenantid}/v2.0")
    found = discovery.validate(template, "organizations")
    assert found.issuer_for(TENANT) == f"https://login.microsoftonline.com/{TENANT}/v2.0"
    assert found.tenant_id is None
    by_domain = discovery.validate(
        good_document(f"https://login.microsoftonline.com/{TENANT}/v2.0"), "contoso.example"
    )
    assert by_domain.tenant_id == TENANT
    with pytest.raises(discovery.DiscoveryError, match="must name"):
        discovery.validate(
            good_document(f"https://login.microsoftonline.com/{TENANT}/v2.0"), "common"
        )


def test_chinas_issuer_host_is_not_its_authority_host(settings):
    settings.MICROSOFT_AUTHORITY_HOST = "login.chinacloudapi.cn"
    settings.MICROSOFT_ISSUER_HOSTS = ["login.partner.microsoftonline.cn", "login.chinacloudapi.cn"]
    found = discovery.validate(
        good_document(f"https://login.partner.microsoftonline.cn/{TENANT}/v2.0"), TENANT
    )
    assert found.issuer.startswith("https://login.partner.microsoftonline.cn/")
