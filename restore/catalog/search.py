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

Across restore points (`across_points`, date order), the page is found by walking the
scope's newest rows in an index and testing each (`_newest_first`), not by fetching every
match to sort it; the full-text index answers for rare terms.

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
from django.db.models.expressions import RawSQL

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


# A date-sorted search tests the scope's newest rows one by one (`_newest_first`): first
# SAMPLE of them; if the matches found there say the page fills within PROBE_MAX rows, up
# to that many; otherwise the full-text index answers (bench/catalog.py,
# docs/benchmarks.md "Operator-wide search").
SAMPLE = 500
PROBE_MAX = 3_500


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
        # The row-by-row test: only what the window does not already ensure (mailboxes,
        # dates), else PostgreSQL drives the probe from the mailbox index instead.
        also = browse.filter_items(
            Item.objects.all(), kind=kind, has_attachments=has_attachments, folder_path=folder_path
        )
        per_row = matching(also, text, per_row=True)
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
    over 100 mailboxes is ~15,000 rows. Instead, walk the scope's rows newest first in
    the (dated_at, id, object_id) index alone, without the heap, and test each one there
    (ts_match_vq, which no index serves) until the page is full: a word in 3% of the
    mailboxes' items fills a page after ~1,700 rows. Phrases too: PostgreSQL takes a
    phrase's words as independent and expects 7-66 times too few rows, so through the
    index it rechecked every mailbox's candidates. A term that the first SAMPLE rows show
    to be too rare for PROBE_MAX rows goes to the index, where rare terms are cheap."""
    found = _probe(in_scope, per_row, cursor, sort, limit, SAMPLE)
    if len(found) <= limit and _window_full(in_scope, cursor, sort, SAMPLE):
        needed = (limit + 1) * SAMPLE / max(len(found), 0.5)
        if needed > PROBE_MAX:
            return list(browse.ordered(items, cursor, sort)[: limit + 1])
        found = _probe(in_scope, per_row, cursor, sort, limit, PROBE_MAX)
        if len(found) <= limit and _window_full(in_scope, cursor, sort, PROBE_MAX):
            return list(browse.ordered(items, cursor, sort)[: limit + 1])
    return found


def _window(in_scope: QuerySet[Item], cursor: str | None, sort: str, size: int) -> QuerySet:
    return browse.ordered(in_scope, cursor, sort).values_list("pk", "dated_at")[:size]


def _window_full(in_scope: QuerySet[Item], cursor: str | None, sort: str, size: int) -> bool:
    """Whether the scope has `size` rows after the cursor (else the window saw them all)."""
    return _window(in_scope, cursor, sort, size).count() == size


def _probe(
    in_scope: QuerySet[Item],
    per_row: QuerySet[Item],
    cursor: str | None,
    sort: str,
    limit: int,
    size: int,
) -> list[Item]:
    """The first limit + 1 rows of `per_row` among the next `size` rows of `in_scope`.

    One query: the window of ids in date order (the index alone), and per id a probe of
    its row by primary key, stopping at limit + 1 matches."""
    window_sql, window_params = _window(in_scope, cursor, sort, size).query.sql_with_params()
    probe = per_row.filter(pk=RawSQL("w.id", ())).values("pk")
    probe_sql, probe_params = probe.query.sql_with_params()
    direction = "DESC" if browse.SORTS[sort].descending else "ASC"
    # Both parts are the ORM's own SQL; every value is a parameter.
    sql = (
        f"SELECT w.id FROM ({window_sql}) w(id, dated_at) WHERE EXISTS ({probe_sql}) "  # noqa: S608
        f"ORDER BY w.dated_at {direction}, w.id {direction} LIMIT %s"
    )
    with connection.cursor() as db:
        db.execute(
            sql,
            (*window_params, *probe_params, limit + 1),
        )
        ids = [row[0] for row in db.fetchall()]
    rows = Item.objects.in_bulk(ids)
    return [rows[pk] for pk in ids if pk in rows]
