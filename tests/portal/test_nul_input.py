"""A NUL character anywhere in a request is refused with 400, never a 500.

PostgreSQL text cannot hold NUL: before this check, `GET /api/v1/logged-users?q=%00`
reached the query and crashed (schemathesis found it).
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.django_db


def test_api_query_parameter_with_nul_is_an_invalid_request(client) -> None:
    answer = client.get("/api/v1/logged-users", {"q": "ali\x00ce"})
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"
    assert "NUL" in answer.json()["error_description"]
    assert answer["Cache-Control"] == "no-store"


def test_api_json_body_with_escaped_nul_is_refused(client) -> None:
    body = json.dumps({"items": ["a\x00b"]})  # json.dumps writes the NUL as \\u0000
    answer = client.post("/api/v1/restore-jobs", body, content_type="application/json")
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"


def test_token_form_with_nul_is_refused(client) -> None:
    answer = client.post("/api/v1/token", {"grant_type": "refresh_token\x00"})
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"


def test_web_page_with_nul_in_the_query_says_why(client) -> None:
    answer = client.get("/", {"q": "\x00"})
    assert answer.status_code == 400
    assert "NUL" in answer.content.decode()


def test_a_backslash_followed_by_u0000_as_text_is_not_nul(client) -> None:
    # The literal six characters \u0000 are ordinary text: JSON writes them as \\u0000.
    body = json.dumps({"items": ["\\u0000"]})
    answer = client.post("/api/v1/restore-jobs", body, content_type="application/json")
    assert answer.status_code == 401  # reached the API, which wants a bearer token
