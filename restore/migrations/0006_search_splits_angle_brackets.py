"""Search finds addresses written "Name <address>" (PostgreSQL).

PostgreSQL's parser reads "<bob@contoso.example>" as a tag and skips it, so the address
(and "contoso") was not searchable. The split copy of name, sender and recipients now
also turns < and > into spaces (restore/search.py SPLIT_CHARACTERS). A generated column
cannot be altered: it is dropped and added again, with its index.
"""

from django.db import migrations

OLD_SPLIT, NEW_SPLIT = ("'._-@'", "'    '"), ("'._-@<>'", "'      '")


def document(split: tuple[str, str]) -> str:
    chars, spaces = split
    return (
        "to_tsvector('simple'::regconfig, COALESCE(name, '') || ' ' || COALESCE(sender, '') "
        "|| ' ' || COALESCE(recipients, '') || ' ' || COALESCE(body_text, '') "
        f"|| ' ' || COALESCE(translate(name, {chars}, {spaces}), '') "
        f"|| ' ' || COALESCE(translate(sender, {chars}, {spaces}), '') "
        f"|| ' ' || COALESCE(translate(recipients, {chars}, {spaces}), ''))"
    )


def statements(split: tuple[str, str]) -> list[str]:
    return [
        "ALTER TABLE restore_item DROP COLUMN search_document",
        "ALTER TABLE restore_item ADD COLUMN search_document tsvector "
        f"GENERATED ALWAYS AS ({document(split)}) STORED",
        "CREATE INDEX item_search_document ON restore_item USING gin (search_document)",
    ]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in statements(NEW_SPLIT):
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in statements(OLD_SPLIT):
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("restore", "0005_item_folder_object_statistics")]

    operations = [migrations.RunPython(forward, backward)]
