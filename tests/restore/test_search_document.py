"""Full-text search reads the stored search document (migration 0004) on PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection

from restore.catalog.search import matching
from restore.models import Folder, Item, ProtectedObject

pytestmark = pytest.mark.django_db


@pytest.fixture
def items() -> dict[str, Item]:
    obj = ProtectedObject.objects.create(
        tenant_id=uuid.uuid4(), workload="mail", owner_id=uuid.uuid4(), name="Alice"
    )
    inbox = Folder.objects.create(
        object=obj, graph_id="f1", name="Inbox", path="Inbox", first_seq=1
    )

    def item(key: str, **fields: str) -> Item:
        return Item.objects.create(
            object=obj,
            folder=inbox,
            graph_id=key,
            kind=Item.Kind.MESSAGE,
            first_seq=1,
            dated_at=datetime(2025, 9, 1, tzinfo=UTC),
            **fields,
        )

    return {
        "budget": item(
            "budget",
            name="Q3 budget review",
            sender="Bob <bob@contoso.example>",
            body_text="The deadline is end of month.",
        ),
        "offsite": item(
            "offsite",
            name="Team offsite",
            recipients="Carol <carol@contoso.example>",
            body_text="Month end is the deadline for the budget.",
        ),
    }


def found(text: str) -> set[str]:
    return set(matching(Item.objects.all(), text).values_list("graph_id", flat=True))


def test_words_phrases_and_exclusions_match_every_field(items):
    assert found("budget") == {"budget", "offsite"}
    assert found('"end of month"') == {"budget"}
    assert found("budget -offsite") == {"budget"}
    assert found("carol") == {"offsite"}  # recipients
    assert found("bob") == {"budget"}  # sender
    # Addresses inside "Name <address>", whole or by domain.
    assert found("bob@contoso.example") == {"budget"}
    assert found("contoso") == {"budget", "offsite"}
    assert found("nothing-like-this") == set()


def test_the_document_follows_edits(items):
    Item.objects.filter(pk=items["offsite"].pk).update(body_text="Rescheduled to spring.")
    assert found("rescheduled") == {"offsite"}
    assert found("budget") == {"budget"}


def test_search_works_inside_a_subquery(items):
    ids = matching(Item.objects.all(), '"end of month"').values("id")
    assert list(Item.objects.filter(id__in=ids).values_list("graph_id", flat=True)) == ["budget"]


def test_the_search_uses_the_stored_column_and_its_index():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'restore_item' "
            "AND indexname LIKE 'item_search%%'"
        )
        assert [row[0] for row in cursor.fetchall()] == [
            "CREATE INDEX item_search_document ON public.restore_item USING gin (search_document)"
        ]
    assert '"search_document" @@' in str(matching(Item.objects.all(), "budget").query)


def test_the_stored_document_is_search_vector(items):
    """Migration 0004 froze search_vector()'s SQL: a change to one needs the other."""
    from restore.catalog.search import SearchDocument, search_vector

    rows = Item.objects.annotate(stored=SearchDocument(), computed=search_vector())
    assert all(stored == computed for stored, computed in rows.values_list("stored", "computed"))
