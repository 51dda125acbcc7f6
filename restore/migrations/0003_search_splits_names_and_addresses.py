"""Rebuild the full-text GIN index: names and addresses are now also indexed split at
punctuation, so a word of a file name or a mail domain finds them.

The expression is frozen here as it was when this migration was written (not imported
from live code, restore/catalog/search.py), so that history stays as it ran.
"""

from django.db import migrations

DOCUMENT = (
    "to_tsvector('simple'::regconfig, COALESCE(name, '') || ' ' || COALESCE(sender, '') "
    "|| ' ' || COALESCE(recipients, '') || ' ' || COALESCE(body_text, '') "
    "|| ' ' || COALESCE(translate(name, '._-@', '    '), '') "
    "|| ' ' || COALESCE(translate(sender, '._-@', '    '), '') "
    "|| ' ' || COALESCE(translate(recipients, '._-@', '    '), ''))"
)


def rebuild_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS item_search")
    schema_editor.execute(f"CREATE INDEX item_search ON restore_item USING gin (({DOCUMENT}))")


class Migration(migrations.Migration):
    dependencies = [("restore", "0002_item_search_index")]

    operations = [migrations.RunPython(rebuild_index, migrations.RunPython.noop)]
