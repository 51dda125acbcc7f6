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
from django.db.models import (
    BooleanField,
    Expression,
    F,
    Func,
    Q,
    QuerySet,
    TextField,
    Value,
    prefetch_related_objects,
)

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


def matching(items: QuerySet[Item], text: str, *, per_row: bool = False) -> QuerySet[Item]:
    """Items whose text matches `text` (already length-checked by the caller).

    `per_row`: the same match written as a function call, which no index serves, for
    rows already narrowed down by id (`_newest_first`)."""
    text = text.strip()[:MAX_QUERY_LENGTH]
    if not text:
        return items
    if connection.vendor == "postgresql":
        query = SearchQuery(text, config=CONFIG, search_type="websearch")
        if per_row:
            return items.filter(
                Func(SearchDocument(), query, function="ts_match_vq", output_field=BooleanField())
            )
        return items.alias(search=SearchDocument()).filter(search=query)
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


# How many in-scope rows, newest first, a date-sorted search reads before it lets the
# full-text index decide (bench/catalog.py, docs/benchmarks.md "Operator-wide search").
WINDOWS = (2_000, 10_000)


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
    browse.check_sort(sort)
    limit = browse.parse_limit(limit)
    in_scope = scope.items()
    if object_id not in (None, ""):
        in_scope = in_scope.filter(object=scope.object(object_id))
    in_scope = browse.filter_items(in_scope, date_from=date_from, date_to=date_to)
    filtered = browse.filter_items(
        in_scope, kind=kind, has_attachments=has_attachments, folder_path=folder_path
    )
    items = matching(filtered, text)
    if connection.vendor == "postgresql" and text.strip() and sort in ("date", "date-asc"):
        per_row = matching(filtered, text, per_row=True)
        found = _newest_first(in_scope, per_row, items, cursor, sort, limit)
    else:
        found = list(browse.ordered(items, cursor, sort)[: limit + 1])
    page = browse.page_of(found, sort, limit)
    # The page's mailboxes and folders, fetched by id after the LIMIT: a join before it
    # hashed every folder and mailbox of the scope for 50 rows.
    prefetch_related_objects(page.items, "object", "folder")
    ranges = browse.point_ranges(page.items, scope.restore_points())
    marks = browse.since(page.items, scope.restore_points())
    return Results(
        hits=[Hit(item, ranges[item.pk], marks.get(item.pk)) for item in page.items],
        next_cursor=page.next_cursor,
        sort=page.sort,
    )


def _newest_first(
    in_scope: QuerySet[Item],
    per_row: QuerySet[Item],
    items: QuerySet[Item],
    cursor: str | None,
    sort: str,
    limit: int,
) -> list[Item]:
    """Up to limit + 1 of `items` (a subset of `in_scope`; `per_row` the same rows with the
    text tested row by row) in date order after `cursor`.

    The full-text index alone gives every matching row of the scope, which PostgreSQL then
    fetches from the heap (a ~3 KB row each) to sort by date and keep 50: a common word
    over 100 mailboxes is ~15,000 rows. Instead, read the scope's newest rows from the
    (dated_at, id, object_id) index alone, without the heap, and test only those: a word
    in 3% of the mailboxes' items is found 51 times in ~2,000 rows. The document is
    tested per row there (ts_match_vq, which no index serves), so a phrase's planner
    estimate (PostgreSQL takes its words as independent: 66 times too few) cannot send it
    through the index instead. A term too rare for the windows goes to the index."""
    walk = browse.ordered(in_scope, cursor, sort).values_list("pk", flat=True)
    for size in WINDOWS:
        window = list(walk[:size])
        found = list(browse.ordered(per_row.filter(pk__in=window), None, sort)[: limit + 1])
        if len(found) > limit or len(window) < size:
            return found
    return list(browse.ordered(items, cursor, sort)[: limit + 1])
