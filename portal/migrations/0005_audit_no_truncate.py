"""The audit log refuses TRUNCATE too.

Migration 0003's row trigger covers UPDATE and DELETE; TRUNCATE fires no row trigger,
so one statement could still empty the table. A statement-level trigger refuses it
(PostgreSQL; SQLite has no TRUNCATE, and its DELETE trigger already covers
`DELETE FROM` without a WHERE). Only the table's owner can disable a trigger: see
docs/operations.md for running Lifeboat as a role that does not own its tables.
"""

from django.db import migrations

POSTGRES_FORWARD = """
CREATE TRIGGER portal_auditevent_no_truncate
    BEFORE TRUNCATE ON portal_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION lifeboat_audit_append_only();
"""
POSTGRES_REVERSE = "DROP TRIGGER IF EXISTS portal_auditevent_no_truncate ON portal_auditevent;"


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_FORWARD)


def reverse(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_REVERSE)


class Migration(migrations.Migration):
    dependencies = [("portal", "0004_beat_lock")]

    operations = [migrations.RunPython(forward, reverse)]
