"""Search reads a stored tsvector column instead of computing one per row (PostgreSQL).

With only an expression index (0002, 0003), every row PostgreSQL looks at outside the index
(a filter, a phrase's recheck, a lossy bitmap) runs to_tsvector over ~300 characters
again, about 40 µs each: an operator's search for a common word over 100 mailboxes took
seconds (docs/benchmarks-restore.md). A generated column keeps the document once, per
row, at write time; the GIN index moves onto it. Not a model field: SQLite (the demo)
has no tsvector, and restore/search.py reads the column on PostgreSQL only.
"""

from django.db import migrations

# Frozen here (not imported from restore/search.py) so that history stays as it ran.
DOCUMENT = (
    "to_tsvector('simple'::regconfig, COALESCE(name, '') || ' ' || COALESCE(sender, '') "
    "|| ' ' || COALESCE(recipients, '') || ' ' || COALESCE(body_text, '') "
    "|| ' ' || COALESCE(translate(name, '._-@', '    '), '') "
    "|| ' ' || COALESCE(translate(sender, '._-@', '    '), '') "
    "|| ' ' || COALESCE(translate(recipients, '._-@', '    '), ''))"
)
FORWARD = [
    "ALTER TABLE restore_item ADD COLUMN search_document tsvector "
    f"GENERATED ALWAYS AS ({DOCUMENT}) STORED",
    "CREATE INDEX item_search_document ON restore_item USING gin (search_document)",
    "DROP INDEX IF EXISTS item_search",
]
BACKWARD = [
    f"CREATE INDEX item_search ON restore_item USING gin (({DOCUMENT}))",
    "ALTER TABLE restore_item DROP COLUMN search_document",
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in FORWARD:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in BACKWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("restore", "0003_search_splits_names_and_addresses")]

    operations = [migrations.RunPython(forward, backward)]
