from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from authflow.models import User
from portal import audit
from portal.models import AuditEvent


@pytest.fixture
def event(db):
    actor = User.objects.create(username="oid.tid", upn="ivan@contoso.example")
    return audit.record("role.changed", actor=actor, target="heidi@contoso.example")


def test_an_event_records_who_what_and_when(event):
    assert event.actor_identity == "oid.tid"
    assert event.actor_label == "ivan@contoso.example"
    assert event.action == "role.changed"
    assert event.correlation_id


def test_the_database_refuses_to_update_an_audit_row(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="nothing.happened")
    event.refresh_from_db()
    assert event.action == "role.changed"


def test_the_database_refuses_to_delete_an_audit_row(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_raw_sql_cannot_rewrite_history_either(event):
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE portal_auditevent SET actor_label = 'someone else'")
    event.refresh_from_db()
    assert event.actor_label == "ivan@contoso.example"


def test_truncate_cannot_empty_the_audit_log(event):
    with (
        pytest.raises(DatabaseError, match="append-only: TRUNCATE"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("TRUNCATE portal_auditevent")
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_requests_carry_a_correlation_id(client, db):
    response = client.get("/", HTTP_X_REQUEST_ID="req-1234abcd")
    assert response["X-Correlation-ID"] == "req-1234abcd"
    forged = client.get("/", HTTP_X_REQUEST_ID="<script>")
    assert forged["X-Correlation-ID"] != "<script>"
