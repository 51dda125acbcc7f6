"""The catalog: protected objects, restore points, folders, items and their content.

The same domain code as the browse and search pages: every row comes through
`Scope.for_user(caller)` (anything outside it is 404, like an id that does not exist),
item lists are `restore.catalog.browse.page` keyset pages filtered by
`restore.catalog.browse.filter_items` and `restore.catalog.search.matching`, and content is
`restore.catalog.downloads.item_response` (audited).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal, TypedDict
from uuid import UUID

from django.http import FileResponse, HttpRequest
from ninja import Field, Path, Query, Router, Schema

from api.auth import caller
from api.errors import AUTH_ERRORS, ApiError, Error
from restore import scope
from restore.catalog import browse, downloads, preview, search
from restore.models import Folder, Item, ProtectedObject, RestorePoint
from restore.scope import Scope

router = Router(tags=["catalog"])

# Row ids: positive and within PostgreSQL's bigint, so a wild number is a 400, not a 500.
Id = Annotated[int, Field(ge=1, le=2**63 - 1)]
NOT_FOUND = {404: Error}
POINTS_PER_PAGE = 50


SESSION_HEADER = "X-Restore-Session"


def scope_of(request: HttpRequest) -> Scope:
    """The caller's scope: the restore session named in X-Restore-Session (exactly what it
    resolved; 404 if it is not the caller's or has ended), else their current one."""
    named = request.headers.get(SESSION_HEADER, "").strip()
    if named:
        return Scope(scope.explicit_session(caller(request), named[:64]))
    return Scope.for_user(caller(request))


# --- Shapes -------------------------------------------------------------------------------


class ObjectOut(Schema):
    id: int
    workload: str = Field(description="mail, onedrive, calendar, contacts or sharepoint")
    entity: str = Field(description="user, group or site (a SharePoint library)")
    owner_id: UUID
    name: str
    address: str
    restore_points: int = Field(description="How many usable restore points it has.")
    latest_restore_point_at: datetime | None


class ObjectsOut(Schema):
    items: list[ObjectOut]
    notes: list[str] = Field(description="What could not be worked out of your scope just now.")


class RestorePointOut(Schema):
    id: int
    object_id: int
    seq: int
    status: str
    started_at: datetime
    finished_at: datetime | None
    items_added: int
    items_changed: int
    items_removed: int


class RestorePointsOut(Schema):
    items: list[RestorePointOut]
    next_before: int | None = Field(
        description="Pass as `before` for older restore points; null on the last page."
    )


class PointsPaging(Schema):
    before: int | None = Field(
        None, ge=1, le=2**31, description="`next_before` of the previous page."
    )
    limit: int = Field(POINTS_PER_PAGE, ge=1, le=200)


class AtPoint(Schema):
    restore_point: Id | None = Field(None, description="A restore point; default: the latest.")


class FolderOut(Schema):
    id: int
    parent_id: int | None
    name: str
    path: str
    well_known: str
    item_count: int = Field(description="Items directly in the folder at the restore point.")


class FoldersOut(Schema):
    restore_point: int
    items: list[FolderOut]


class ItemOut(Schema):
    id: int
    object_id: int
    kind: str = Field(description="message or file")
    name: str = Field(description="The subject, or the file name.")
    folder_id: int
    folder_path: str
    sender: str = Field(description="Mail: the sender; files: who last modified it.")
    recipients: str
    sent_at: datetime | None
    dated_at: datetime = Field(description="Received (mail) or last modified (files).")
    size: int
    is_read: bool
    has_attachments: bool
    sensitivity: str
    content_status: str = Field(
        description='"" when the content is fine (or not yet checked); "missing" or "corrupt" '
        'when verify_blobs found it so; "lost" ("content lost") when it cannot be restored.'
    )


class ItemsOut(Schema):
    restore_point: int
    items: list[ItemOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` (with the same filters) for the next page; null at the end."
    )


class PointRangeOut(Schema):
    first: int | None = Field(description="The first restore point holding this state.")
    last: int | None = Field(description="The last one; null while it is still current.")
    count: int
    is_current: bool


class AttachmentOut(Schema):
    index: int
    filename: str
    content_type: str
    size: int


class ItemDetailOut(ItemOut):
    restore_points: PointRangeOut
    headers: dict[str, str] = Field(description="Mail: From, To, Cc, Date, Subject.")
    attachments: list[AttachmentOut]


class ItemsFilter(Schema):
    restore_point: Id | None = Field(None, description="A restore point; default: the latest.")
    folder: Id | None = Field(None, description="A folder at that point; default: all folders.")
    recursive: bool = Field(False, description="With folder: its subfolders' items too.")
    q: str = Field(
        "",
        max_length=search.MAX_QUERY_LENGTH,
        description='Full-text search: words, "a phrase", -excluded.',
    )
    type: Literal["", "message", "file"] = ""
    has_attachments: bool = False
    date_from: date | None = None
    date_to: date | None = None
    sort: Literal["date", "date-asc", "name", "size", "sender"] = browse.DEFAULT_SORT
    limit: int = Field(browse.DEFAULT_LIMIT, ge=1, le=browse.MAX_LIMIT)
    cursor: str = Field("", max_length=2000, description="`next_cursor` of the previous page.")


class SearchFilter(Schema):
    q: str = Field(
        "",
        max_length=search.MAX_QUERY_LENGTH,
        description='Full-text search: words, "a phrase", -excluded.',
    )
    object: Id | None = Field(None, description="One object of your scope; default: all.")
    type: Literal["", "message", "file", "event", "contact"] = ""
    has_attachments: bool = False
    date_from: date | None = None
    date_to: date | None = None
    folder: str = Field("", max_length=2000, description="A folder path and everything below.")
    sort: Literal["date", "date-asc", "name", "size", "sender"] = browse.DEFAULT_SORT
    limit: int = Field(browse.DEFAULT_LIMIT, ge=1, le=browse.MAX_LIMIT)
    cursor: str = Field("", max_length=2000, description="`next_cursor` of the previous page.")


class LaterOut(Schema):
    deleted: bool = Field(description="true: gone from later backups; false: changed since.")
    at: datetime | None = Field(description="The first backup that saw it so.")


class HitOut(ItemOut):
    restore_points: PointRangeOut
    later: LaterOut | None = Field(
        description="What became of this state after its last restore point; null while it "
        "is still current."
    )


class SearchOut(Schema):
    items: list[HitOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` (with the same filters) for the next page; null at the end."
    )


# --- Conversions ----------------------------------------------------------------------


def object_out(obj: ProtectedObject) -> ObjectOut:
    return ObjectOut(
        id=obj.pk,
        workload=obj.workload,
        entity=obj.entity,
        owner_id=obj.owner_id,
        name=obj.name,
        address=obj.address,
        restore_points=getattr(obj, "point_count", 0),
        latest_restore_point_at=getattr(obj, "latest_point_at", None),
    )


def point_out(point: RestorePoint) -> RestorePointOut:
    return RestorePointOut(
        id=point.pk,
        object_id=point.object_id,
        seq=point.seq,
        status=point.status,
        started_at=point.started_at,
        finished_at=point.finished_at,
        items_added=point.items_added,
        items_changed=point.items_changed,
        items_removed=point.items_removed,
    )


class ItemFields(TypedDict):
    """ItemOut's fields, as item_fields() reads them from an Item."""

    id: int
    object_id: int
    kind: str
    name: str
    folder_id: int
    folder_path: str
    sender: str
    recipients: str
    sent_at: datetime | None
    dated_at: datetime
    size: int
    is_read: bool
    has_attachments: bool
    sensitivity: str
    content_status: str


def item_fields(item: Item) -> ItemFields:
    return {
        "id": item.pk,
        "object_id": item.object_id,
        "kind": item.kind,
        "name": item.name,
        "folder_id": item.folder_id,
        "folder_path": item.folder.path,
        "sender": item.sender,
        "recipients": item.recipients,
        "sent_at": item.sent_at,
        "dated_at": item.dated_at,
        "size": item.size,
        "is_read": item.is_read,
        "has_attachments": item.has_attachments,
        "sensitivity": item.sensitivity,
        "content_status": item.content_status,
    }


def range_out(held: browse.PointRange) -> PointRangeOut:
    return PointRangeOut(
        first=held.first.pk if held.first else None,
        last=held.last.pk if held.last and not held.is_current else None,
        count=held.count,
        is_current=held.is_current,
    )


def _point_of(scope: Scope, obj: ProtectedObject, point_id: int | None) -> RestorePoint:
    """The object's restore point `point_id` (404 if it is another's), or its latest."""
    if point_id is not None:
        point = scope.restore_point(point_id)
        if point.object_id != obj.pk:
            raise ApiError(404, "not_found", "That restore point is not of this object.")
        return point
    latest = scope.latest_point(obj)
    if latest is None:
        raise ApiError(404, "not_found", "This object has no restore point yet.")
    return latest


# --- Operations -------------------------------------------------------------------------


@router.get(
    "/objects",
    response={200: ObjectsOut, **AUTH_ERRORS},
    summary="Protected objects (mailboxes, OneDrives) you may restore from",
)
def objects(request: HttpRequest) -> ObjectsOut:
    scope = scope_of(request)
    found = browse.objects_overview(scope.objects()).order_by("name", "owner_id", "workload")
    return ObjectsOut(items=[object_out(o) for o in found], notes=list(scope.session.notes))


@router.get(
    "/objects/{id}",
    response={200: ObjectOut, **AUTH_ERRORS, **NOT_FOUND},
    summary="One protected object",
)
def object_detail(request: HttpRequest, id: Path[Id]) -> ObjectOut:
    scope = scope_of(request)
    obj = scope.object(id)  # 404 outside the scope
    return object_out(browse.objects_overview(scope.objects()).get(pk=obj.pk))


@router.get(
    "/objects/{id}/restore-points",
    response={200: RestorePointsOut, **AUTH_ERRORS, **NOT_FOUND},
    summary="An object's restore points, newest first",
)
def restore_points(
    request: HttpRequest, id: Path[Id], paging: Query[PointsPaging]
) -> RestorePointsOut:
    scope = scope_of(request)
    points = scope.restore_points(scope.object(id)).order_by("-seq")
    if paging.before is not None:
        points = points.filter(seq__lt=paging.before)
    shown = list(points[: paging.limit + 1])
    more = len(shown) > paging.limit
    shown = shown[: paging.limit]
    return RestorePointsOut(
        items=[point_out(p) for p in shown], next_before=shown[-1].seq if more else None
    )


@router.get(
    "/objects/{id}/folders",
    response={200: FoldersOut, **AUTH_ERRORS, **NOT_FOUND},
    summary="An object's folders at a restore point (default: the latest)",
)
def folders(request: HttpRequest, id: Path[Id], at: Query[AtPoint]) -> FoldersOut:
    scope = scope_of(request)
    point = _point_of(scope, scope.object(id), at.restore_point)
    out: list[FolderOut] = []

    def walk(nodes: list[browse.TreeNode], parent: Folder | None) -> None:
        for node in nodes:
            out.append(
                FolderOut(
                    id=node.folder.pk,
                    parent_id=parent.pk if parent else None,
                    name=node.folder.name,
                    path=node.folder.path,
                    well_known=node.folder.well_known,
                    item_count=node.item_count,
                )
            )
            walk(node.children, node.folder)

    walk(browse.folder_tree(scope.folders(point), scope.items(point)), None)
    return FoldersOut(restore_point=point.pk, items=out)


@router.get(
    "/objects/{id}/items",
    response={200: ItemsOut, **AUTH_ERRORS, **NOT_FOUND},
    summary="Browse and search an object's items at a restore point, a page at a time",
)
def items(request: HttpRequest, id: Path[Id], filters: Query[ItemsFilter]) -> ItemsOut:
    scope = scope_of(request)
    point = _point_of(scope, scope.object(id), filters.restore_point)
    rows = scope.items(point)
    folder_path = ""
    if filters.folder is not None:
        folder = scope.folder(point, filters.folder)
        if filters.recursive:
            folder_path = folder.path  # "" for a drive's root: everything is below it
        else:
            rows = rows.filter(folder=folder)
    elif filters.recursive:
        raise ApiError(400, "invalid_request", "recursive needs a folder.")
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        raise ApiError(400, "invalid_request", "date_from is after date_to.")
    rows = browse.filter_items(
        rows,
        kind=filters.type,
        has_attachments=filters.has_attachments,
        date_from=filters.date_from,
        date_to=filters.date_to,
        folder_path=folder_path,
    )
    rows = search.matching(rows, filters.q).select_related("folder")
    try:
        found = browse.page(rows, filters.cursor or None, filters.sort, filters.limit)
    except browse.InvalidPage as error:
        raise ApiError(400, "invalid_request", str(error)) from error
    return ItemsOut(
        restore_point=point.pk,
        items=[ItemOut(**item_fields(item)) for item in found.items],
        next_cursor=found.next_cursor,
    )


@router.get(
    "/search",
    response={200: SearchOut, **AUTH_ERRORS, **NOT_FOUND},
    summary="Search every restore point in your scope: which backups hold this item?",
    description="The web's Search: each hit is an item state with the restore points that "
    "hold it (first, last, how many) and, once it is no longer current, whether it was "
    "deleted or changed and when. Restore a hit with POST /restore-jobs and one of its "
    "restore points.",
)
def search_items(request: HttpRequest, filters: Query[SearchFilter]) -> SearchOut:
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        raise ApiError(400, "invalid_request", "date_from is after date_to.")
    try:
        found = search.across_points(
            scope_of(request),
            filters.q,
            object_id=filters.object,
            kind=filters.type,
            has_attachments=filters.has_attachments,
            date_from=filters.date_from,
            date_to=filters.date_to,
            folder_path=filters.folder,
            sort=filters.sort,
            cursor=filters.cursor or None,
            limit=filters.limit,
        )
    except browse.InvalidPage as error:
        raise ApiError(400, "invalid_request", str(error)) from error
    return SearchOut(
        items=[
            HitOut(
                **item_fields(hit.item),
                restore_points=range_out(hit.held),
                later=LaterOut(deleted=hit.since.deleted, at=hit.since.at) if hit.since else None,
            )
            for hit in found.hits
        ],
        next_cursor=found.next_cursor,
    )


@router.get(
    "/items/{id}",
    response={200: ItemDetailOut, **AUTH_ERRORS, **NOT_FOUND},
    summary="One item: its fields, the restore points holding it, a message's attachments",
)
def item_detail(request: HttpRequest, id: Path[Id]) -> ItemDetailOut:
    scope = scope_of(request)
    item = scope.item(id)
    held = browse.point_ranges([item], scope.restore_points())[item.pk]
    headers: dict[str, str] = {}
    attachments: list[AttachmentOut] = []
    if item.kind == Item.Kind.MESSAGE:
        parsed = preview.parse(item)
        headers = parsed.headers
        attachments = [
            AttachmentOut(
                index=a.index, filename=a.filename, content_type=a.content_type, size=a.size
            )
            for a in parsed.attachments
        ]
    return ItemDetailOut(
        **item_fields(item),
        restore_points=range_out(held),
        headers=headers,
        attachments=attachments,
    )


BINARY = {"schema": {"type": "string", "format": "binary"}}


@router.get(
    "/items/{id}/content",
    response={200: None, **AUTH_ERRORS, **NOT_FOUND, 410: Error, 500: Error, 503: Error},
    summary="An item's content: a message as .eml (message/rfc822), a file as itself",
    openapi_extra={
        "responses": {
            200: {
                "description": "The content, streamed, as an attachment.",
                "content": {"message/rfc822": BINARY, "application/octet-stream": BINARY},
            }
        }
    },
)
def item_content(request: HttpRequest, id: Path[Id]) -> FileResponse:
    try:
        return downloads.item_response(scope_of(request).item(id), request)
    except downloads.ContentUnavailable as problem:
        error = {410: "content_lost", 503: "temporarily_unavailable"}.get(problem.status, "error")
        raise ApiError(problem.status, error, str(problem)) from None
