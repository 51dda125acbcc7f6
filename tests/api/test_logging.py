"""Portal API tokens and token-request fields never reach the logs."""

from __future__ import annotations

import json
import logging
from typing import cast

from portal.logging import redact


def test_api_tokens_and_assertions_are_redacted():
    access, refresh = "lbat_" + "A" * 43, "lbrt_" + "b-_9" * 10
    assertion = json.dumps({"access_token": "eyJhbGciOi.eyJzdWIi.c2ln", "refresh_token": "1.AQ-x"})
    lines = [
        f"Authorization: Bearer {access}",
        f"grant_type=refresh_token&refresh_token={refresh}",
        "grant_type=operator&client_id=a.b&assertion=eyJhbGciOiJSUzI1NiJ9.eyJvaWQiOiJ4In0.c2ln",
        f"assertion={assertion}",
        f"token {access} and {refresh} in a message",
    ]
    for line in lines:
        cleaned = redact(line)
        for secret in (access, refresh, "eyJhbGciOi", "1.AQ-x"):
            assert secret not in cleaned, (line, cleaned)


def test_the_token_endpoint_logs_no_token(operator, identity_of, caplog):
    caplog.set_level(logging.DEBUG)
    assertion = operator.api_access_token("alice")
    body = operator.token(
        {"grant_type": "operator", "client_id": identity_of("alice"), "assertion": assertion}
    ).json()
    operator.token({"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
    operator.token({"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
    handler_filter = cast(logging.Filter, logging.getHandlerByName("console").filters[0])
    for record in caplog.records:
        handler_filter.filter(record)
        text = record.getMessage() + (record.exc_text or "")
        for secret in (assertion, body["access_token"], body["refresh_token"]):
            assert secret not in text
