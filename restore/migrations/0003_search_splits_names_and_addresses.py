"""Rebuild the full-text GIN index: names and addresses are now also indexed split at
punctuation (restore/search.py), so a word of a file name or a mail domain finds them."""

from django.db import migrations


def rebuild_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from restore.search import search_index

    item = apps.get_model("restore", "Item")
    schema_editor.execute(search_index().remove_sql(item, schema_editor))
    schema_editor.execute(search_index().create_sql(item, schema_editor))


class Migration(migrations.Migration):
    dependencies = [("restore", "0002_item_search_index")]

    operations = [migrations.RunPython(rebuild_index, migrations.RunPython.noop)]
