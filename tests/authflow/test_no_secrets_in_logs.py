"""Tokens, codes and secrets never reach a log line, in the web process or the worker."""

from __future__ import annotations

import json
import logging

from authflow import encryption, tokens
from authflow.models import SignIn, TokenCache
from tests.authflow.test_browser_sign_in import authorize_as, post_back
from tests.conftest import wait_for
from tests.sandbox.pages import forms_of


def secrets_of(row: TokenCache) -> set[str]:
    cache = json.loads(encryption.decrypt(row.ciphertext))
    found = set()
    for section in ("AccessToken", "RefreshToken", "IdToken"):
        found |= {entry["secret"] for entry in cache.get(section, {}).values()}
    return found


def test_no_token_or_code_appears_in_any_log(sandbox, celery_worker, client, live_server, caplog):
    caplog.set_level(logging.DEBUG)
    sandbox.policy(
        device_code_interval=1, access_token_min_lifetime=200, access_token_max_lifetime=200
    )

    # Device code, polled by the worker.
    client.post("/auth/sign-in/code", {})
    pending = SignIn.objects.get()
    device_code = json.loads(encryption.decrypt(pending.flow_ciphertext))["device_code"]
    sandbox.approve(pending.user_code, "alice")
    wait_for(lambda: SignIn.objects.filter(status="completed").exists(), timeout=30)

    # Browser sign-in, with its authorization code.
    browser, page = authorize_as(sandbox, live_server, "bob")
    code = forms_of(page.text)[0]["fields"]["code"]
    post_back(browser, page)

    # A refresh (rotation) for each.
    rows = list(TokenCache.objects.select_related("user"))
    for row in rows:
        tokens.access_token(row.user, ["Mail.ReadWrite"])
    secrets = {device_code, code, sandbox.confidential_client_secret}
    for row in TokenCache.objects.all():
        secrets |= secrets_of(row)
    assert len(secrets) >= 8

    logs = caplog.text + celery_worker.log_text()
    assert "sign_in" in logs or "Sign-in poller" in logs  # something was logged at all
    leaked = [s[:12] + "…" for s in secrets if s in logs or s[:40] in logs]
    assert leaked == []
