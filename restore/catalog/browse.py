"""Queries behind browsing and searching backups: keyset pages, folder trees, point ranges.

Every queryset handed in here already comes from `Scope`; this module only orders,
pages and shapes it. Paging is by keyset, never OFFSET: a cursor holds the sort key and
id of the last row shown, signed so it cannot be forged into another query, and the next
page is "rows after that one" in the same order — stable while backups add rows, and as
fast on page 1,000 as on page 1 (the indexes in restore/models.py match the orders).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Final

from django.core import signing
from django.db.models import Count, Exists, Max, Model, OuterRef, Q, QuerySet
from django.utils import timezone

from restore.models import Folder, Item, ProtectedObject, RestorePoint

CURSOR_SALT = "restore.browse.cursor"
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class InvalidPage(ValueError):
    """A cursor, sort or limit that cannot be used; the message is safe to show (→ 400)."""


@dataclass(frozen=True)
class Sort:
    field: str
    descending: bool
    label: str


# The sorts people can choose; each is (field, id) so ties are ordered too.
SORTS: dict[str, Sort] = {
    "date": Sort("dated_at", True, "Newest first"),
    "date-asc": Sort("dated_at", False, "Oldest first"),
    "name": Sort("name", False, "Name"),
    "size": Sort("size", True, "Largest first"),
    "sender": Sort("sender", False, "Sender"),
}
DEFAULT_SORT: Final = "date"


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_cursor: str | None
    sort: str = DEFAULT_SORT

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None


def _encode_value(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def _decode_value(sort: Sort, value: object) -> object:
    if sort.field == "dated_at":
        if not isinstance(value, str):
            raise InvalidPage("This page link is not valid.")
        try:
            return datetime.fromisoformat(value)
        except ValueError as error:
            raise InvalidPage("This page link is not valid.") from error
    if sort.field == "size" and not isinstance(value, int):
        raise InvalidPage("This page link is not valid.")
    if sort.field in ("name", "sender") and not isinstance(value, str):
        raise InvalidPage("This page link is not valid.")
    return value


def make_cursor(sort_name: str, row: Any) -> str:
    """The opaque, signed cursor that continues after `row` in `sort_name` order."""
    sort = SORTS[sort_name]
    payload = {"s": sort_name, "v": _encode_value(getattr(row, sort.field)), "i": row.pk}
    return signing.dumps(payload, salt=CURSOR_SALT, compress=True)


def read_cursor(cursor: str, sort_name: str) -> tuple[object, int]:
    """(sort value, id) from a cursor made for `sort_name`; InvalidPage otherwise."""
    try:
        payload = signing.loads(cursor, salt=CURSOR_SALT)
    except signing.BadSignature as error:
        raise InvalidPage("This page link is not valid (it was changed or is too old).") from error
    if not isinstance(payload, dict) or payload.get("s") != sort_name:
        raise InvalidPage("This page link belongs to another sort order; start from page one.")
    row_id = payload.get("i")
    if not isinstance(row_id, int):
        raise InvalidPage("This page link is not valid.")
    return _decode_value(SORTS[sort_name], payload.get("v")), row_id


def parse_limit(value: str | int | None, default: int = DEFAULT_LIMIT) -> int:
    if value in (None, ""):
        return default
    try:
        limit = int(value)
    except (TypeError, ValueError) as error:
        raise InvalidPage("The page size must be a number.") from error
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidPage(f"The page size must be between 1 and {MAX_LIMIT}.")
    return limit


def page[M: Model](
    rows: QuerySet[M], cursor: str | None, sort: str = DEFAULT_SORT, limit: int = DEFAULT_LIMIT
) -> Page:
    """One keyset page of `rows` (already scoped) in `sort` order, after `cursor`.

    Raises InvalidPage for an unknown sort, a bad limit or a cursor that is not ours.
    """
    check_sort(sort)
    limit = parse_limit(limit)
    found = list(ordered(rows, cursor, sort)[: limit + 1])
    return page_of(found, sort, limit)


def check_sort(sort: str) -> Sort:
    if sort not in SORTS:
        raise InvalidPage(f"Unknown sort {sort[:40]!r}; choose one of {', '.join(SORTS)}.")
    return SORTS[sort]


def page_of(found: list[Any], sort: str, limit: int) -> Page:
    """The page of up to `limit` rows from `found` (up to limit + 1 rows in `sort` order)."""
    more = len(found) > limit
    found = found[:limit]
    next_cursor = make_cursor(sort, found[-1]) if more and found else None
    return Page(items=found, next_cursor=next_cursor, sort=sort)


def ordered[M: Model](rows: QuerySet[M], cursor: str | None, sort: str) -> QuerySet[M]:
    """`rows` in `sort` order, after `cursor`; unsliced. InvalidPage as page()."""
    spec = check_sort(sort)
    direction = "-" if spec.descending else ""
    rows = rows.order_by(f"{direction}{spec.field}", f"{direction}pk")
    if cursor:
        value, row_id = read_cursor(cursor, sort)
        beyond = "lt" if spec.descending else "gt"
        # `field <= value` (or >=) lets the index scan start at the cursor; the OR alone
        # cannot, and PostgreSQL walked a 12,000-item folder from the top (170 ms vs
        # 0.1 ms, bench/catalog.py). The OR then only breaks ties on the id.
        rows = rows.filter(
            Q(**{f"{spec.field}__{beyond}e": value})
            & (Q(**{f"{spec.field}__{beyond}": value}) | Q(**{f"pk__{beyond}": row_id}))
        )
    return rows


# --- Objects and filters ---------------------------------------------------------------

USABLE = (RestorePoint.Status.SUCCEEDED, RestorePoint.Status.PARTIAL)


def objects_overview(objects: QuerySet[ProtectedObject]) -> QuerySet[ProtectedObject]:
    """Objects (already scoped) with `point_count` and `latest_point_at` of usable points."""
    usable = Q(restore_points__status__in=USABLE)
    return objects.annotate(
        point_count=Count("restore_points", filter=usable),
        latest_point_at=Max("restore_points__started_at", filter=usable),
    )


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def filter_items(
    items: QuerySet[Item],
    *,
    kind: str = "",
    has_attachments: bool = False,
    date_from: date | None = None,
    date_to: date | None = None,
    folder_path: str = "",
) -> QuerySet[Item]:
    """The search filters of the web search and the API, on items already scoped.

    Dates are whole local days, both ends included; `folder_path` takes that folder and
    every folder below it (case-insensitive, as people type paths).
    """
    if kind:
        items = items.filter(kind=kind)
    if has_attachments:
        items = items.filter(has_attachments=True)
    if date_from:
        items = items.filter(dated_at__gte=_day_start(date_from))
    if date_to:
        items = items.filter(dated_at__lt=_day_start(date_to + timedelta(days=1)))
    if folder := folder_path.strip().strip("/"):
        items = items.filter(
            Q(folder__path__iexact=folder) | Q(folder__path__istartswith=f"{folder}/")
        )
    return items


# --- Folder trees ------------------------------------------------------------------------


@dataclass
class TreeNode:
    folder: Folder
    item_count: int = 0
    children: list[TreeNode] = field(default_factory=list)


def folder_tree(folders: QuerySet[Folder], items: QuerySet[Item]) -> list[TreeNode]:
    """The folders of one restore point as a tree, with their item counts at that point."""
    counts = dict(items.values_list("folder_id").annotate(n=Count("id")).order_by())
    nodes = {f.graph_id: TreeNode(f, counts.get(f.pk, 0)) for f in folders.order_by("path")}
    roots: list[TreeNode] = []
    for node in nodes.values():
        parent = nodes.get(node.folder.parent_graph_id)
        if parent is not None and parent is not node:
            parent.children.append(node)
        else:
            roots.append(node)
    return roots


def default_folder(folders: Sequence[Folder]) -> Folder | None:
    """The folder a point opens on: the inbox or the drive's root, else the first one."""
    for wanted in ("inbox", "root"):
        for folder in folders:
            if folder.well_known == wanted:
                return folder
    return folders[0] if folders else None


# --- Which restore points hold a state ------------------------------------------------


@dataclass(frozen=True)
class PointRange:
    first: RestorePoint | None
    last: RestorePoint | None  # None with is_current: up to the latest backup
    count: int
    is_current: bool


def point_ranges(items: Iterable[Item], points: QuerySet[RestorePoint]) -> dict[int, PointRange]:
    """For each item state, the first and last (scoped) restore point that holds it."""
    items = list(items)
    object_ids = {item.object_id for item in items}
    by_object: dict[int, list[RestorePoint]] = {}
    for point in points.filter(object_id__in=object_ids).order_by("seq"):
        by_object.setdefault(point.object_id, []).append(point)
    ranges: dict[int, PointRange] = {}
    for item in items:
        held = [
            p
            for p in by_object.get(item.object_id, [])
            if p.seq >= item.first_seq and (item.last_seq is None or p.seq <= item.last_seq)
        ]
        ranges[item.pk] = PointRange(
            first=held[0] if held else None,
            last=held[-1] if held else None,
            count=len(held),
            is_current=item.last_seq is None,
        )
    return ranges


# --- What happened to a state after a restore point -----------------------------------


@dataclass(frozen=True)
class Since:
    """A state no longer current: deleted, or changed into a newer state, `at` the first
    backup that saw it so (None if that backup is out of scope)."""

    deleted: bool
    at: datetime | None


def _successors(items: Sequence[Item]) -> set[tuple[int, str]]:
    """(object id, graph id) of the states that follow the given ended states."""
    follows = Q(pk__in=[])
    for item in items:
        if item.last_seq is None:
            continue
        follows |= Q(object_id=item.object_id, graph_id=item.graph_id, first_seq=item.last_seq + 1)
    return set(Item.objects.filter(follows).values_list("object_id", "graph_id"))


def since(items: Iterable[Item], points: QuerySet[RestorePoint]) -> dict[int, Since]:
    """For each item state that is no longer current: deleted or changed, and when."""
    ended = [item for item in items if item.last_seq is not None]
    if not ended:
        return {}
    followed = _successors(ended)
    after: dict[int, list[RestorePoint]] = {}
    lowest = min(item.last_seq or 0 for item in ended)
    objects = {item.object_id for item in ended}
    for point in points.filter(object_id__in=objects, seq__gt=lowest).order_by("seq"):
        after.setdefault(point.object_id, []).append(point)
    marks: dict[int, Since] = {}
    for item in ended:
        later = [p for p in after.get(item.object_id, []) if p.seq > (item.last_seq or 0)]
        marks[item.pk] = Since(
            deleted=(item.object_id, item.graph_id) not in followed,
            at=later[0].started_at if later else None,
        )
    return marks


def deleted_items(obj_items: QuerySet[Item]) -> QuerySet[Item]:
    """States that some restore point holds and the latest does not, with no newer state
    (deleted since, not changed): newest deletion first. `obj_items` are one object's."""
    newer = Item.objects.filter(
        object_id=OuterRef("object_id"),
        graph_id=OuterRef("graph_id"),
        first_seq=OuterRef("last_seq") + 1,
    )
    return (
        obj_items.filter(last_seq__isnull=False)
        .exclude(Exists(newer))
        .select_related("folder")
        .order_by("-last_seq", "-dated_at", "-id")
    )
