"""Errors by the standards first, caches that never regress, several tenants, TLS
failures that say so — against the sandbox over real HTTP."""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from authflow import encryption, flows, signins, tokens
from authflow.models import SignIn, TokenCache


def test_invalid_scope_on_refresh_is_a_configuration_error_never_retried(alice, caplog):
    caplog.set_level(logging.ERROR, logger="authflow.tokens")
    with pytest.raises(tokens.ConfigurationRefused) as refused:
        tokens.access_token(alice, ["Not.A.Graph.Scope"], force_refresh=True)
    assert "An administrator must" in refused.value.reason
    assert "invalid_scope" in refused.value.reason
    row = TokenCache.objects.get(user=alice)
    assert row.status == TokenCache.Status.NEEDS_SIGN_IN
    assert "invalid_scope" in row.status_reason
    assert "configuration" in caplog.text


def test_needs_sign_in_says_there_is_no_refresh_token(alice):
    row = TokenCache.objects.get(user=alice)
    cache = json.loads(encryption.decrypt(row.ciphertext))
    cache["RefreshToken"] = {}
    for entry in cache["AccessToken"].values():
        entry["expires_on"] = str(int(time.time()) - 60)
    TokenCache.objects.filter(pk=row.pk).update(ciphertext=encryption.encrypt(json.dumps(cache)))

    with pytest.raises(tokens.SignInRequired) as refused:
        tokens.access_token(alice, ["Mail.ReadWrite"])
    assert "no refresh token" in refused.value.reason
    assert "holds no account" not in refused.value.reason
    assert "no refresh token" in TokenCache.objects.get(user=alice).status_reason


def test_a_sign_in_without_a_refresh_token_keeps_the_one_held(alice):
    row = TokenCache.objects.get(user=alice)
    held = json.loads(encryption.decrypt(row.ciphertext))
    assert held["RefreshToken"]
    newer = {k: v for k, v in held.items() if k != "RefreshToken"}
    tokens.store(
        alice,
        json.dumps(newer),
        {"access_token": "x", "expires_in": 3600, "scope": "User.Read"},
        method=TokenCache.Method.BROWSER,
    )

    row.refresh_from_db()
    kept = json.loads(encryption.decrypt(row.ciphertext))
    assert kept["RefreshToken"] == held["RefreshToken"]
    assert row.method == TokenCache.Method.DEVICE_CODE  # the app that refresh token is for
    assert row.refresh_token_renewed_at is not None
    tokens.access_token(alice, ["Mail.ReadWrite"], force_refresh=True)  # and it still works


@pytest.fixture
def two_tenants(sandbox, settings):
    settings.MICROSOFT_ALLOWED_TENANT_IDS = [sandbox.tenant_id, sandbox.other_tenant_id]
    return sandbox


def test_several_tenants_use_organizations_where_it_is_served(two_tenants):
    assert signins.default_tenant() == "organizations"
    assert not signins.needs_address()


def test_several_tenants_without_organizations_find_the_tenant_by_address(two_tenants, client):
    two_tenants.fault("/organizations/v2.0/.well-known", 404, remaining=100)
    assert signins.needs_address()
    page = client.get("/auth/sign-in").content.decode()
    assert 'data-testid="sign-in-address-code"' in page

    refused = client.post("/auth/sign-in/code", {"next": "/"})
    assert refused.status_code == 502
    assert "type your work address" in refused.content.decode()
    unknown = client.post("/auth/sign-in/code", {"next": "/", "address": "eve@nowhere.example"})
    assert "No organisation signs in with addresses at nowhere.example" in unknown.content.decode()

    started = client.post("/auth/sign-in/code", {"next": "/", "address": "alice@contoso.example"})
    assert started.status_code == 302
    assert SignIn.objects.get().tenant == two_tenants.tenant_id
    browser = client.get("/auth/sign-in/microsoft", {"address": "alice@contoso.example"})
    assert browser.status_code == 302
    assert f"/{two_tenants.tenant_id}/oauth2/v2.0/authorize" in browser["Location"]


def test_an_untrusted_certificate_is_a_tls_failure_naming_the_host(
    sandbox, settings, tmp_path, caplog
):
    from tests.contract.conftest import TLS

    tls = TLS(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls.cert_file, tls.key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.MICROSOFT_ROUTES = {
        **settings.MICROSOFT_ROUTES,
        "login.microsoftonline.com": f"https://localhost:{server.server_port}",
    }
    settings.MICROSOFT_CA_BUNDLE = None
    caplog.set_level(logging.ERROR)
    try:
        with pytest.raises(flows.FlowError) as refused:
            signins.start_device_sign_in()
    finally:
        server.shutdown()
    assert "TLS connection to login.microsoftonline.com failed" in str(refused.value)
    assert "MICROSOFT_CA_BUNDLE" in str(refused.value)
    assert "TLS failure talking to login.microsoftonline.com" in caplog.text
