"""Tell PostgreSQL's planner that an item's folder decides its object.

`Scope.items(point)` filters on object_id, and the folder page adds folder_id: without
this, the planner multiplies the two selectivities as if independent and expects a few
hundred rows where a big folder holds 11,000, so it reads the whole folder and sorts it
(45 ms) instead of walking the `item_folder_page` index for 50 rows (0.5 ms). Functional
dependency statistics (PostgreSQL 10+) fix the estimate; the next ANALYZE fills them.
"""

from django.db import migrations


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE STATISTICS item_folder_object (dependencies) "
            "ON folder_id, object_id FROM restore_item"
        )


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP STATISTICS IF EXISTS item_folder_object")


class Migration(migrations.Migration):
    dependencies = [("restore", "0004_item_search_document")]

    operations = [migrations.RunPython(forward, backward)]
