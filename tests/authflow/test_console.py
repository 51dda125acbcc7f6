"""Admin pages: logged-in users, people and roles, the audit log."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.urls import reverse

from authflow.models import Role, User
from portal import audit
from portal.models import AuditEvent


@pytest.fixture
def admin(db, client) -> User:
    user = User.objects.create(username="admin.ivan", upn="ivan@contoso.example", role=Role.ADMIN)
    client.force_login(user)
    return user


def test_logged_in_users_shows_each_identity_with_its_token_facts(alice, admin, client):
    html = client.get(reverse("console:logged-in-users")).content.decode()
    assert alice.identity in html
    assert "alice@contoso.example" in html
    assert "Device code" in html
    assert "Mail.ReadWrite" in html
    assert "expires ~" in html  # estimated refresh token expiry
    filtered = client.get(
        reverse("console:logged-in-users"), {"status": "revoked"}
    ).content.decode()
    assert alice.identity not in filtered


def test_changing_a_role_is_audited(admin, client):
    heidi = User.objects.create(username="h.t", upn="heidi@contoso.example")
    client.post(reverse("console:change-role", args=[heidi.identity]), {"role": "helpdesk"})
    heidi.refresh_from_db()
    assert heidi.role == Role.HELPDESK
    event = AuditEvent.objects.get(action="role.changed")
    assert event.details == {"from": "end_user", "to": "helpdesk"}
    assert event.actor_label == "ivan@contoso.example"


def test_the_last_admin_cannot_be_demoted(admin, client):
    response = client.post(
        reverse("console:change-role", args=[admin.identity]), {"role": "end_user"}, follow=True
    )
    admin.refresh_from_db()
    assert admin.role == Role.ADMIN
    assert "last admin" in response.content.decode()


def test_an_unknown_role_is_refused(admin, client):
    client.post(reverse("console:change-role", args=[admin.identity]), {"role": "root"})
    admin.refresh_from_db()
    assert admin.role == Role.ADMIN


def test_audit_log_filters_and_exports_csv(admin, client):
    audit.record("sign_in.started", actor=admin)
    audit.record("token.revoked", actor=admin, on_behalf_of='=HYPERLINK("evil")')
    page = client.get(reverse("console:audit"), {"action": "token."}).content.decode()
    assert "token.revoked" in page
    assert "sign_in.started</code>" not in page

    response = client.get(reverse("console:audit-csv"), {"action": "token."})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["occurred_at", "action", "outcome"]
    assert [r[1] for r in rows[1:]] == ["token.revoked"]
    assert rows[1][5].startswith("'=")  # no formula injection into spreadsheets


@pytest.mark.parametrize("payload", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"])
def test_audit_csv_quotes_every_formula_start(admin, client, payload):
    audit.record("token.revoked", actor=admin, on_behalf_of=payload)
    response = client.get(reverse("console:audit-csv"), {"action": "token."})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[1][5] == f"'{payload}"


def test_audit_csv_leaves_plain_and_empty_cells_alone(admin, client):
    audit.record("token.revoked", actor=admin, on_behalf_of="heidi@contoso.example")
    response = client.get(reverse("console:audit-csv"), {"action": "token."})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[1][5] == "heidi@contoso.example"
    assert "'" not in "".join(rows[1])


def test_a_bad_date_filter_is_a_clear_400(admin, client):
    response = client.get(reverse("console:audit"), {"since": "yesterday"})
    assert response.status_code == 400
    assert "must be a date" in response.content.decode()


# Realistic details of each kind of event, as the code records them (shapes that broke the
# page before: an "items" key holding a number, lists, nested dicts, None, booleans).
EXAMPLE_DETAILS: dict[str, dict] = {
    "restore.requested": {"object": 12, "restore_point": 345, "target": "original",
                          "collision": "skip", "items": 3, "bytes": 120_000},
    "restore.finished": {"status": "completed", "user": "u.t", "done": 3, "skipped": 0,
                         "failed": 0, "verified": 3, "unverified": 0, "total": 3},
    "restore.consent_requested": {"requester": "h.t", "person": "b.t", "from": "alice@x",
                                  "items": 1, "how": "asked"},
    "sign_in.started": {"method": "device_code", "expected": None, "scopes": ["User.Read"]},
    "sign_in.wrong_account": {"actual": "m.t", "expected": {"upn": "bob@x", "oid": "1"}},
    "restore_scope.granted": {"grantee": "heidi@x", "principal": "Finance",
                              "without_asking": True},
}  # fmt: skip


def test_the_audit_page_renders_one_event_of_every_action_with_readable_details(admin, client):
    for action in audit.ACTIONS:
        details = EXAMPLE_DETAILS.get(action, {"items": 2, "keys": ["a", "b"], "values": {}})
        audit.record(action, actor=admin, on_behalf_of="alice@contoso.example", details=details)
    page = client.get(reverse("console:audit"))
    assert page.status_code == 200
    text = page.content.decode()
    for action in audit.ACTIONS:
        answer = client.get(reverse("console:audit"), {"action": action})
        assert answer.status_code == 200, action
        assert f'data-action="{action}"' in answer.content.decode()
    assert "<dt>items</dt><dd>3</dd>" in text
    assert "<dt>scopes</dt><dd>[&quot;User.Read&quot;]</dd>" in text
    assert "<dt>without_asking</dt><dd>true</dd>" in text


def test_every_action_the_code_records_is_registered_for_the_console():
    """Literal actions passed to audit calls anywhere in the product are in ACTIONS."""
    import ast
    import pathlib
    import re

    dotted = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")
    found: dict[str, str] = {}
    for package in ("api", "authflow", "console", "portal", "restore"):
        for path in pathlib.Path(package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                values: list[ast.AST] = []
                if isinstance(node, ast.Call):
                    func = node.func
                    name = getattr(func, "attr", None) or getattr(func, "id", "")
                    if name == "record" or "audit" in name:
                        values = list(node.args)
                elif isinstance(node, ast.Assign) and any(
                    getattr(t, "id", "") in ("action", "actions") for t in node.targets
                ):
                    values = [node.value]
                for value in values:
                    for constant in ast.walk(value):
                        text = getattr(constant, "value", None)
                        if isinstance(text, str) and dotted.match(text):
                            found.setdefault(text, str(path))
    assert len(found) > 20  # the scan sees the code
    missing = {action: path for action, path in found.items() if action not in audit.ACTIONS}
    assert not missing, f"add these to portal.audit.ACTIONS: {missing}"


def test_audit_csv_writes_details_as_json_and_empty_fields_empty(admin, client):
    details = {"items": 3, "target": "original", "nested": {"a": [1, 2]}}
    audit.record("restore.requested", actor=admin, details=details)
    response = client.get(reverse("console:audit-csv"), {"action": "restore."})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert json.loads(rows[0]["details"]) == details
    assert rows[0]["ip"] == ""
    assert rows[0]["target"] == ""
    assert "'" not in "".join(rows[0].values())
