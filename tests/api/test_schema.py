"""The OpenAPI document, the docs page under the CSP, and a bounded schemathesis run."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from authflow.models import Role

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_the_token_operation_documents_its_form_and_grant_types(client, db):
    document = client.get("/api/v1/openapi.json").json()
    assert document["openapi"].startswith("3.")
    body = document["paths"]["/api/v1/token"]["post"]["requestBody"]["content"]
    form = body["application/x-www-form-urlencoded"]["schema"]
    assert form["properties"]["grant_type"]["enum"] == [
        "operator",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "refresh_token",
    ]
    assert {"client_id", "assertion", "refresh_token"} <= set(form["properties"])
    token_out = document["components"]["schemas"]["TokenOut"]
    assert {".issued", ".expires", "userName"} <= set(token_out["required"])
    assert document["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"


def test_the_docs_page_uses_local_assets_under_the_site_csp(client, db):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp


@pytest.mark.browser
def test_swagger_ui_renders_the_token_form_without_csp_violations(page, live_server):
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.goto("/api/v1/docs")
    page.get_by_text("Get API tokens").first.click()
    page.get_by_role("button", name="Try it out").click()
    grant_type = page.locator("select:has(option[value='operator'])")
    options = grant_type.locator("option").all_inner_texts()
    assert "operator" in options
    assert "urn:ietf:params:oauth:grant-type:jwt-bearer" in options
    assert violations == []


OPERATIONS = [
    ("POST", "/api/v1/token"),
    ("POST", "/api/v1/token/logout"),
    ("GET", "/api/v1/me"),
    ("POST", "/api/v1/sign-ins"),
    ("GET", "/api/v1/sign-ins/{id}"),
    ("GET", "/api/v1/logged-users"),
    ("POST", "/api/v1/logged-users/{identity}/revoke"),
    ("GET", "/api/v1/objects"),
    ("GET", "/api/v1/objects/{id}"),
    ("GET", "/api/v1/objects/{id}/restore-points"),
    ("GET", "/api/v1/objects/{id}/folders"),
    ("GET", "/api/v1/objects/{id}/items"),
    ("GET", "/api/v1/items/{id}"),
    ("GET", "/api/v1/items/{id}/content"),
    ("POST", "/api/v1/restore-jobs"),
    ("GET", "/api/v1/restore-jobs"),
    ("GET", "/api/v1/restore-jobs/{id}"),
    ("GET", "/api/v1/restore-jobs/{id}/log"),
    ("POST", "/api/v1/restore-jobs/{id}/cancel"),
    ("GET", "/api/v1/restore-jobs/{id}/download"),
    ("GET", "/api/v1/search"),
    ("POST", "/api/v1/restore-sessions"),
    ("GET", "/api/v1/restore-sessions"),
    ("DELETE", "/api/v1/restore-sessions/{id}"),
]
# Generated requests per operation: the whole run stays well under a minute.
EXAMPLES = {("POST", "/api/v1/restore-jobs"): 40, ("GET", "/api/v1/objects/{id}/items"): 25}
# Operations that reach Microsoft (sign-ins, tokens) need the sandbox; the catalog's don't.
NEEDS_SANDBOX = OPERATIONS[:7]


def test_every_operation_is_fuzzed(client, db):
    documented = client.get("/api/v1/openapi.json").json()["paths"]
    assert sorted((m.upper(), p) for p, ops in documented.items() for m in ops) == sorted(
        OPERATIONS
    )


@pytest.mark.parametrize(("method", "path"), NEEDS_SANDBOX)
def test_the_api_keeps_to_its_schema(sandbox, bearer_for, method, path):
    fuzz(method, path, bearer_for(Role.ADMIN))


@pytest.fixture
def connections_kept_open():
    """As Django's test client does: requests in process must not close the connection
    that holds the test's transaction (the WSGI handler would, at each request's end)."""
    request_finished.disconnect(close_old_connections)
    yield
    request_finished.connect(close_old_connections)


@pytest.mark.parametrize(("method", "path"), OPERATIONS[6:])
def test_the_catalog_and_restore_jobs_keep_to_their_schema(
    transactional_db, bearer_for, method, path
):
    from authflow.models import User
    from tests.restore import factories

    token = bearer_for(Role.ADMIN, name="admin@contoso.example")
    factories.mailbox(User.objects.get(upn="admin@contoso.example"), points=2)
    fuzz(method, path, token)


def fuzz(method: str, path: str, token: str) -> None:
    """Up to 15-40 generated requests per operation (50 for the first ones; valid and
    invalid), in process, as an admin: never a 5xx, and every answer as documented."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
    headers = {"Authorization": f"Bearer {token}"}

    @given(case=schema[path][method].as_strategy())
    @settings(
        max_examples=EXAMPLES.get((method, path), 50 if (method, path) in NEEDS_SANDBOX else 15),
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure prints its case
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def keeps_to_schema(case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    keeps_to_schema()
