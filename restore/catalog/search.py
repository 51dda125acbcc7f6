"""Full-text search over the catalog.

PostgreSQL: `to_tsvector('simple', name || sender || recipients || body_text || …)`
(`search_vector()`), stored per row in the generated column `search_document` with a GIN
index on it (migration 0004), queried with `websearch_to_tsquery` so people can type
words, "quoted phrases" and -exclusions. Stored, not computed per query: rows checked
outside the index (a phrase's recheck, a filter next to the scope's mailboxes) would
otherwise each run to_tsvector again, which made common words over many mailboxes take
seconds (bench/catalog.py, docs/benchmarks.md). The "simple" configuration does
not stem, so it behaves the same for every language a tenant writes in. A change to
`search_vector()` needs a migration that redefines the column.

SQLite (the demo's embedded database) has no such index; there each word must appear in
one of the fields (case-insensitive `LIKE`). Same results for plain words, slower.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import reduce
from operator import and_, or_
from typing import TYPE_CHECKING

from django.contrib.postgres.search import SearchQuery, SearchVector, SearchVectorField
from django.db import connection
from django.db.models import Expression, F, Func, Q, QuerySet, TextField, Value

from restore.catalog import browse
from restore.models import Item

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models.sql.compiler import SQLCompiler

    from restore.scope import Scope

CONFIG = "simple"
FIELDS = ("name", "sender", "recipients", "body_text")
# PostgreSQL's parser keeps "roadmap-platform.docx" and "bob@contoso.example" as single
# tokens, and reads "<bob@contoso.example>" as a tag it skips; these fields are indexed a
# second time with such punctuation made spaces, so "roadmap", "docx" or "contoso" find
# them too (and the whole name still matches).
SPLIT_FIELDS = ("name", "sender", "recipients")
SPLIT_CHARACTERS = "._-@<>"
MAX_QUERY_LENGTH = 200


def _split(field: str) -> Func:
    return Func(
        F(field),
        Value(SPLIT_CHARACTERS),
        Value(" " * len(SPLIT_CHARACTERS)),
        function="translate",
        output_field=TextField(),
    )


def search_vector() -> SearchVector:
    return SearchVector(*FIELDS, *(_split(field) for field in SPLIT_FIELDS), config=CONFIG)


class SearchDocument(Expression):
    """The stored `search_vector()` of each row: a PostgreSQL-only column (migration 0004),
    so not a model field; read from the query's own alias for the item table (which a
    subquery renames)."""

    output_field = SearchVectorField()

    def as_sql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper
    ) -> tuple[str, tuple[str | int, ...]]:
        table = compiler.quote_name(compiler.query.get_initial_alias())
        return f"{table}.{connection.ops.quote_name('search_document')}", ()


def matching(items: QuerySet[Item], text: str) -> QuerySet[Item]:
    """Items whose text matches `text` (already length-checked by the caller)."""
    text = text.strip()[:MAX_QUERY_LENGTH]
    if not text:
        return items
    if connection.vendor == "postgresql":
        return items.alias(search=SearchDocument()).filter(
            search=SearchQuery(text, config=CONFIG, search_type="websearch")
        )
    words = [word.strip('"') for word in text.split() if word.strip('"-')]
    per_word = [reduce(or_, (Q(**{f"{f}__icontains": word}) for f in FIELDS)) for word in words]
    return items.filter(reduce(and_, per_word)) if per_word else items


# --- Search across every restore point in a scope (the web's Search and GET /api/v1/search)


@dataclass(frozen=True)
class Hit:
    """One item state found, the restore points holding it, and what became of it."""

    item: Item
    held: browse.PointRange
    since: browse.Since | None


@dataclass(frozen=True)
class Results:
    hits: list[Hit]
    next_cursor: str | None
    sort: str


def across_points(
    scope: Scope,
    text: str,
    *,
    object_id: object = None,
    kind: str = "",
    has_attachments: bool = False,
    date_from: date | None = None,
    date_to: date | None = None,
    folder_path: str = "",
    sort: str = browse.DEFAULT_SORT,
    cursor: str | None = None,
    limit: int = browse.DEFAULT_LIMIT,
) -> Results:
    """Item states matching `text` in any restore point of the scope (one object's when
    `object_id` is given: 404 outside the scope), a keyset page at a time. Raises
    browse.InvalidPage for a bad cursor, sort or limit."""
    items = scope.items()
    if object_id not in (None, ""):
        items = items.filter(object=scope.object(object_id))
    items = browse.filter_items(
        items,
        kind=kind,
        has_attachments=has_attachments,
        date_from=date_from,
        date_to=date_to,
        folder_path=folder_path,
    )
    found = browse.page(
        matching(items, text).select_related("object", "folder"), cursor, sort, limit
    )
    ranges = browse.point_ranges(found.items, scope.restore_points())
    marks = browse.since(found.items, scope.restore_points())
    return Results(
        hits=[Hit(item, ranges[item.pk], marks.get(item.pk)) for item in found.items],
        next_cursor=found.next_cursor,
        sort=found.sort,
    )
