"""The GIN index behind full-text search, on PostgreSQL only (restore/catalog/search.py).

The expression is frozen here as it was when this migration was written (not imported
from live code), so that history stays as it ran.
"""

from django.db import migrations

DOCUMENT = (
    "to_tsvector('simple'::regconfig, COALESCE(name, '') || ' ' || COALESCE(sender, '') "
    "|| ' ' || COALESCE(recipients, '') || ' ' || COALESCE(body_text, ''))"
)


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"CREATE INDEX item_search ON restore_item USING gin (({DOCUMENT}))")


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS item_search")


class Migration(migrations.Migration):
    dependencies = [("restore", "0001_initial")]

    operations = [migrations.RunPython(create_index, drop_index)]
