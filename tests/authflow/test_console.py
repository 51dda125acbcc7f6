"""Admin pages: logged-in users, people and roles, the audit log."""

from __future__ import annotations

import csv
import io

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
