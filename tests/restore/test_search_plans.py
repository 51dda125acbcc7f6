"""Search across restore points: its plans use indexes, and every path gives the same pages.

restore.catalog.search.across_points tests the text on the scope's newest rows one by one
(a sample, then more), or lets the full-text index answer (docs/benchmarks.md,
"Operator-wide search"). The plan checks EXPLAIN the product's own queries, as it ran
them, with sequential scans priced out: a query that has no index path on restore_item
still shows one; and a join to another table before the LIMIT (which made PostgreSQL
hash every folder and mailbox of the scope for a page of 50). The one join allowed is
restore_item's window with its own rows by primary key, the row-by-row test.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from restore.catalog import browse, search
from restore.models import Item, RestoreSession
from restore.scope import Scope
from tests.restore import factories as f

pytestmark = pytest.mark.django_db

JOINS = {"Nested Loop", "Hash Join", "Merge Join"}
WORDS = ["budget", "on my side", "roadmap", "invoice"]


@pytest.fixture
def catalog():
    """Three mailboxes of one operator's scope, one outside it; 40 messages each."""
    alice = f.user("alice")
    objects = []
    start = f.base_time()
    for n in range(4):
        obj = f.protected_object(f.user(f"owner{n}"))
        f.point(obj, 1)
        inbox = f.folder(obj, "Inbox", well_known="inbox")
        Item.objects.bulk_create(
            Item(
                object=obj, folder=inbox, graph_id=f"m{n}-{i}", kind=Item.Kind.MESSAGE,
                first_seq=1, name=f"{WORDS[i % 4]} number {i}",
                body_text=f"I am on my side of the {WORDS[(i + n) % 4]}" if i % 3 else "other",
                dated_at=start + timedelta(hours=(i * 7 + n) % 50), size=100 + i,
                has_attachments=i % 5 == 0,
            )
            for i in range(40)
        )  # fmt: skip
        objects.append(obj)
    session = RestoreSession.objects.create(
        user=alice,
        expires_at=timezone.now() + timedelta(hours=1),
        object_ids=[obj.pk for obj in objects[:3]],
    )
    return Scope(session)


def reference(scope: Scope, text: str, sort: str, **filters) -> list[int]:
    """Every matching item of the scope in `sort` order: the plain query, one page."""
    items = search.matching(browse.filter_items(scope.items(), **filters), text)
    return list(browse.ordered(items, None, sort).values_list("pk", flat=True))


def all_pages(scope: Scope, text: str, sort: str, limit: int, **filters) -> list[int]:
    seen: list[int] = []
    cursor = None
    while True:
        found = search.across_points(scope, text, sort=sort, cursor=cursor, limit=limit, **filters)
        seen.extend(hit.item.pk for hit in found.hits)
        if found.next_cursor is None:
            return seen
        cursor = found.next_cursor


# (SAMPLE, PROBE_MAX): the index answers at once; after the sample; the probes answer.
PATHS = [(2, 3), (3, 60), (search.SAMPLE, search.PROBE_MAX)]


def use(monkeypatch, path: tuple[int, int]) -> None:
    monkeypatch.setattr(search, "SAMPLE", path[0])
    monkeypatch.setattr(search, "PROBE_MAX", path[1])


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("sort", ["date", "date-asc", "name"])
@pytest.mark.parametrize("text", ["budget", '"on my side"', "roadmap -other"])
def test_every_path_gives_the_same_pages(catalog, monkeypatch, path, sort, text):
    use(monkeypatch, path)
    expected = reference(catalog, text, sort)
    assert expected, "the catalog has matches for every term"
    assert all_pages(catalog, text, sort, limit=4) == expected


@pytest.mark.parametrize("path", PATHS)
def test_filters_apply_on_every_path(catalog, monkeypatch, path):
    use(monkeypatch, path)
    day = f.base_time().date()
    filters = {"has_attachments": True, "date_from": day, "date_to": day + timedelta(days=1)}
    expected = reference(catalog, "budget", "date", **filters)
    assert expected
    assert all_pages(catalog, "budget", "date", 2, **filters) == expected


def test_the_page_brings_its_mailbox_and_folder(catalog, django_assert_max_num_queries):
    found = search.across_points(catalog, "budget", limit=10)
    with django_assert_max_num_queries(0):
        assert {(hit.item.object.name, hit.item.folder.path) for hit in found.hits}


def plan_nodes(node: dict, under_limit: bool = False):
    """(node, whether a Limit is above it) for every node of an EXPLAIN (FORMAT JSON) plan."""
    under_limit = under_limit or node["Node Type"] == "Limit"
    yield node, under_limit
    for child in node.get("Plans", []):
        yield from plan_nodes(child, under_limit)


def tables(node: dict) -> set[str]:
    return {n["Relation Name"] for n, _ in plan_nodes(node) if "Relation Name" in n}


def explain(sql: str) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
        (plan,) = cursor.fetchone()
    return (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("text", "filters"),
    [
        ("budget", {}),
        ('"on my side"', {}),
        ("budget", {"date_from": "day", "date_to": "day"}),
        ("roadmap", {"kind": Item.Kind.MESSAGE, "has_attachments": True}),
    ],
)
def test_search_plans_use_indexes_and_join_after_the_limit(
    catalog, monkeypatch, path, text, filters
):
    use(monkeypatch, path)
    day = f.base_time().date()
    filters = {k: day if v == "day" else v for k, v in filters.items()}
    with CaptureQueriesContext(connection) as queries:
        search.across_points(catalog, text, **filters)
    item_queries = [q["sql"] for q in queries.captured_queries if '"restore_item"' in q["sql"]]
    assert item_queries
    for sql in item_queries:
        plan = explain(sql)
        for node, under_limit in plan_nodes(plan):
            assert not (
                node["Node Type"] == "Seq Scan" and node.get("Relation Name") == "restore_item"
            ), f"sequential scan of restore_item:\n{sql}"
            joined = node["Node Type"] in JOINS and tables(node) != {"restore_item"}
            assert not (under_limit and joined), f"join before LIMIT:\n{sql}"
