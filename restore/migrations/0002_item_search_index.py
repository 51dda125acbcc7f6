"""The GIN index behind full-text search, on PostgreSQL only (restore/search.py)."""

from django.db import migrations


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from restore.search import search_index

    item = apps.get_model("restore", "Item")
    schema_editor.execute(search_index().create_sql(item, schema_editor))


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from restore.search import search_index

    item = apps.get_model("restore", "Item")
    schema_editor.execute(search_index().remove_sql(item, schema_editor))


class Migration(migrations.Migration):
    dependencies = [("restore", "0001_initial")]

    operations = [migrations.RunPython(create_index, drop_index)]
