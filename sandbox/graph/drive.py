"""OneDrive for Business through Graph: drives, items (by id and by path), children, delta,
downloads, simple and resumable uploads, versions.

Downloads and upload sessions use capability URLs, as SharePoint's do: whoever holds the
URL may use it, with no Authorization header. The URLs point at the host the client used
to reach this sandbox, so they work through whatever routing brought the client here.
"""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Q, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from sandbox.graph import errors, ids, odata
from sandbox.graph.call import Call, json_response
from sandbox.graph.errors import GraphError
from sandbox.graph.mail import format_time
from sandbox.models import (
    DirectoryUser,
    Drive,
    DriveChange,
    DriveItem,
    DriveItemVersion,
    UploadFragment,
    UploadSession,
)
from sandbox.quickxor import quick_xor_hash

SIMPLE_UPLOAD_LIMIT = 4 * 1024 * 1024
FRAGMENT_MULTIPLE = 320 * 1024
FRAGMENT_LIMIT = 60 * 1024 * 1024
UPLOAD_SESSION_LIFETIME = timedelta(hours=24)
DOWNLOAD_URL_LIFETIME = 3600
DOWNLOAD_SALT = "sandbox.graph.download"
CONFLICT_PARAMETER = "@microsoft.graph.conflictBehavior"
QUOTA_TOTAL = 1024**4

MIME_TYPES = {
    "txt": "text/plain",
    "md": "text/markdown",
    "csv": "text/csv",
    "html": "text/html",
    "json": "application/json",
    "pdf": "application/pdf",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "zip": "application/zip",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}


def mime_type(name: str) -> str:
    return MIME_TYPES.get(name.rpartition(".")[2].lower(), "application/octet-stream")


# --- Serialising -------------------------------------------------------------------------


def identity(user: DirectoryUser | None) -> dict[str, Any]:
    if user is None:
        return {"application": {"displayName": "SharePoint App"}}
    return {
        "user": {
            "email": user.mail or user.user_principal_name,
            "id": str(user.id),
            "displayName": user.display_name,
        }
    }


def drive_json(drive: Drive) -> dict[str, Any]:
    used = (
        DriveItem.objects.filter(drive=drive, deleted_at__isnull=True, is_folder=False)
        .aggregate(total=Sum("size"))
        .get("total")
        or 0
    )
    if drive.site is not None and drive.owner_group_id is None:
        library_site = drive.site
        owner = (
            {
                "group": {
                    "id": str(library_site.group.id),
                    "displayName": library_site.group.display_name,
                }
            }
            if library_site.group
            else {"user": {"displayName": "System Account"}}
        )
        web = f"{library_site.web_url}/{quote(drive.name)}"
    elif drive.owner_user:
        owner = identity(drive.owner_user)
        site = re.sub(r"[@.]", "_", drive.owner_user.user_principal_name)
        web = f"https://contoso-my.sharepoint.com/personal/{site}/Documents"
    else:
        group = drive.owner_group
        owner = (
            {"group": {"id": str(group.id), "displayName": group.display_name, "email": group.mail}}
            if group
            else {}
        )
        site = group.mail_nickname if group else "site"
        web = f"https://contoso.sharepoint.com/sites/{site}/Shared%20Documents"
    return {
        "id": drive.id,
        "driveType": "documentLibrary"
        if drive.site_id and not drive.owner_group_id
        else "business",
        "name": drive.name,
        "description": "",
        "createdDateTime": format_time(drive.created_at),
        "lastModifiedDateTime": format_time(drive.created_at),
        "webUrl": web,
        "owner": owner,
        "quota": {
            "deleted": 0,
            "remaining": QUOTA_TOTAL - used,
            "state": "normal",
            "total": QUOTA_TOTAL,
            "used": used,
        },
    }


class Paths:
    """Paths of folders ('/drive/root:/A/B'), memoised for one response."""

    def __init__(self) -> None:
        self.cache: dict[str, str] = {}

    def of(self, item: DriveItem) -> str:
        if item.parent_id is None:
            return ""
        if item.id in self.cache:
            return self.cache[item.id]
        parent = DriveItem.objects.only("id", "name", "parent_id").get(id=item.parent_id)
        path = f"{self.of(parent)}/{item.name}"
        self.cache[item.id] = path
        return path


def _etag_guid(item_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, item_id)).upper()


def download_url(request: HttpRequest, item: DriveItem, version: int | None = None) -> str:
    token = signing.dumps({"item": item.id, "version": version}, salt=DOWNLOAD_SALT, compress=True)
    return request.build_absolute_uri(reverse("sandbox:graph-download", args=[token]))


def item_json(
    request: HttpRequest,
    item: DriveItem,
    paths: Paths,
    *,
    with_download: bool = True,
    child_counts: dict[str, int] | None = None,
) -> dict[str, Any]:
    guid = _etag_guid(item.id)
    body: dict[str, Any] = {
        "createdDateTime": format_time(item.created_at),
        "eTag": f'"{{{guid}}},{item.revision}"',
        "id": item.id,
        "lastModifiedDateTime": format_time(item.modified_at),
        "name": "root" if item.parent_id is None else item.name,
        "webUrl": f"https://contoso-my.sharepoint.com/drive{paths.of(item)}",
        "cTag": f'"c:{{{guid}}},{item.revision}"',
        "size": item.size,
        "createdBy": identity(item.created_by),
        "lastModifiedBy": identity(item.modified_by),
        "parentReference": {"driveType": "business", "driveId": item.drive_id},
        "fileSystemInfo": {
            "createdDateTime": format_time(item.created_at),
            "lastModifiedDateTime": format_time(item.modified_at),
        },
    }
    if item.parent_id is not None:
        parent_path = paths.of(item)[: -(len(item.name) + 1)]
        body["parentReference"].update(
            {"id": item.parent_id, "path": f"/drives/{item.drive_id}/root:{parent_path}"}
        )
    if item.is_folder:
        count = (child_counts or {}).get(item.id)
        if count is None:
            count = DriveItem.objects.filter(parent=item, deleted_at__isnull=True).count()
        body["folder"] = {"childCount": count}
        if item.parent_id is None:
            body["root"] = {}
    else:
        body["file"] = {"mimeType": item.mime_type, "hashes": {"quickXorHash": item.quick_xor_hash}}
        if with_download:
            body = {"@microsoft.graph.downloadUrl": download_url(request, item), **body}
    return body


def _select(call: Call, item: dict[str, Any]) -> dict[str, Any]:
    return odata.apply_select(item, odata.selected(call.request))


# --- Addressing --------------------------------------------------------------------------


def root_of(drive: Drive) -> DriveItem:
    root = DriveItem.objects.filter(drive=drive, parent__isnull=True).first()
    if root is None:
        root = DriveItem.objects.create(id=ids.item_id(), drive=drive, name="root", is_folder=True)
    return root


def _child(parent: DriveItem, name: str) -> DriveItem | None:
    return DriveItem.objects.filter(
        parent=parent, name__iexact=name, deleted_at__isnull=True
    ).first()


def _base(call: Call) -> DriveItem:
    reference = call.params["item"]
    if reference.lower() == "root":
        return root_of(call.target_drive)
    item = DriveItem.objects.filter(
        drive=call.target_drive, id=reference.split("/", 1)[1], deleted_at__isnull=True
    ).first()
    if item is None:
        raise errors.not_found(errors.DRIVE)
    return item


def _path_parts(call: Call) -> list[str]:
    return [p for p in call.params.get("path", "").split("/") if p]


def item_for(call: Call) -> DriveItem:
    item = _base(call)
    for name in _path_parts(call):
        child = _child(item, name) if item.is_folder else None
        if child is None:
            raise errors.not_found(errors.DRIVE)
        item = child
    return item


def target_for(call: Call) -> tuple[DriveItem, str, DriveItem | None]:
    """(parent folder, name, existing item) for a write addressed `{parent}:/name:`."""
    parts = _path_parts(call)
    if not parts:
        item = _base(call)
        if item.is_folder or item.parent is None:
            raise errors.bad_request(
                "A file name is needed: address the file as {parent}:/name:.", "invalidRequest"
            )
        return item.parent, item.name, item
    parent = _base(call)
    for name in parts[:-1]:
        child = _child(parent, name)
        if child is None:
            # OneDrive creates the missing folders of a path on upload.
            child = _create_folder(call, parent, name)
        parent = child
    if not parent.is_folder:
        raise errors.bad_request("The parent of an item must be a folder.", "invalidRequest")
    name = parts[-1]
    _check_name(name)
    return parent, name, _child(parent, name)


_INVALID_NAME = re.compile(r'["*:<>?/\\|]')


def _check_name(name: str) -> None:
    if not name.strip() or _INVALID_NAME.search(name) or name in (".", ".."):
        raise errors.bad_request(
            f"The name '{name}' contains characters OneDrive doesn't allow.", "invalidRequest"
        )


def _conflict_behavior(value: Any, default: str) -> str:
    behavior = str(value or default).lower()
    if behavior not in ("fail", "replace", "rename"):
        raise errors.bad_request(f"Invalid {CONFLICT_PARAMETER} '{value}'.", "invalidRequest")
    return behavior


def name_already_exists() -> GraphError:
    return GraphError(409, "nameAlreadyExists", "The specified item name already exists.")


def free_name(parent: DriveItem, name: str) -> str:
    """'report.docx' → 'report 1.docx', 'report 2.docx', ... as OneDrive renames."""
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        stem, dot, extension = name, "", ""
    number = 1
    while True:
        candidate = f"{stem} {number}{dot}{extension}"
        if _child(parent, candidate) is None:
            return candidate
        number += 1


# --- Writing -----------------------------------------------------------------------------


def record_change(item: DriveItem) -> None:
    DriveChange.objects.create(drive_id=item.drive_id, item_id=item.id)


def _user(call: Call | None) -> DirectoryUser | None:
    return call.caller.user if call else None


def _create_folder(call: Call | None, parent: DriveItem, name: str) -> DriveItem:
    now = timezone.now()
    folder = DriveItem.objects.create(
        id=ids.item_id(),
        drive_id=parent.drive_id,
        parent=parent,
        name=name,
        is_folder=True,
        depth=parent.depth + 1,
        created_at=now,
        modified_at=now,
        created_by=_user(call),
        modified_by=_user(call),
    )
    record_change(folder)
    return folder


def write_content(item: DriveItem, data: bytes, user: DirectoryUser | None) -> DriveItem:
    """A new version of a file: the item shows it, earlier ones stay in /versions."""
    now = timezone.now()
    number = (item.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    digest = quick_xor_hash(data)
    DriveItemVersion.objects.create(
        item=item,
        number=number,
        size=len(data),
        quick_xor_hash=digest,
        content=data,
        modified_at=now,
        modified_by=user,
    )
    item.size, item.quick_xor_hash, item.modified_at, item.modified_by = (
        len(data),
        digest,
        now,
        user,
    )
    item.revision += 1
    item.save(update_fields=["size", "quick_xor_hash", "modified_at", "modified_by", "revision"])
    record_change(item)
    return item


@transaction.atomic
def put_file(
    parent: DriveItem, name: str, data: bytes, behavior: str, user: DirectoryUser | None
) -> tuple[DriveItem, bool]:
    """Create or replace `name` in `parent` by the conflict behaviour. Returns (item, created)."""
    existing = _child(parent, name)
    if existing is not None:
        if behavior == "fail":
            raise name_already_exists()
        if behavior == "replace":
            if existing.is_folder:
                raise name_already_exists()
            return write_content(existing, data, user), False
        name = free_name(parent, name)
    now = timezone.now()
    try:
        with transaction.atomic():
            item = DriveItem.objects.create(
                id=ids.item_id(),
                drive_id=parent.drive_id,
                parent=parent,
                name=name,
                depth=parent.depth + 1,
                mime_type=mime_type(name),
                created_at=now,
                modified_at=now,
                created_by=user,
                modified_by=user,
                revision=0,
            )
    except IntegrityError:  # someone else created it meanwhile
        raise name_already_exists() from None
    return write_content(item, data, user), True


# --- Handlers ----------------------------------------------------------------------------


def get_drive(call: Call) -> HttpResponse:
    return json_response(_select(call, drive_json(call.target_drive)))


def get_item(call: Call) -> HttpResponse:
    return json_response(_select(call, item_json(call.request, item_for(call), Paths())))


def _child_counts(folders: list[DriveItem]) -> dict[str, int]:
    rows = (
        DriveItem.objects.filter(parent_id__in=[f.id for f in folders], deleted_at__isnull=True)
        .values("parent_id")
        .annotate(n=Count("id"))
    )
    counts = {row["parent_id"]: row["n"] for row in rows}
    return {f.id: counts.get(f.id, 0) for f in folders}


CHILD_FIELDS = {
    "name": odata.Field("name"),
    "lastmodifieddatetime": odata.Field("modified_at", "datetime"),
    "size": odata.Field("size", "int"),
}


def list_children(call: Call) -> HttpResponse:
    parent = item_for(call)
    if not parent.is_folder:
        return json_response({"value": []})
    rows = DriveItem.objects.filter(parent=parent, deleted_at__isnull=True).select_related(
        "created_by", "modified_by"
    )
    rows = rows.order_by(*odata.order_by(call.request, CHILD_FIELDS, ["name", "id"]))
    top = odata.integer_option(call.request, "$top", 200, 1000)
    skip = odata.skip_of(call.request)
    page, next_link = odata.page(
        call.request, list(rows[skip : skip + top + 1]), top=top, skip=skip, use_skiptoken=True
    )
    paths = Paths()
    counts = _child_counts([i for i in page if i.is_folder])
    body: dict[str, Any] = {
        "value": [
            _select(call, item_json(call.request, i, paths, child_counts=counts)) for i in page
        ]
    }
    if next_link:
        body["@odata.nextLink"] = next_link
    return json_response(body)


def create_child(call: Call) -> HttpResponse:
    parent = item_for(call)
    data = call.json()
    name = str(data.get("name") or "")
    _check_name(name)
    if "folder" not in data:
        raise errors.bad_request(
            "Only folders can be created this way; upload files with PUT.", "invalidRequest"
        )
    behavior = _conflict_behavior(data.get(CONFLICT_PARAMETER), "fail")
    with transaction.atomic():
        existing = _child(parent, name)
        if existing is not None:
            if behavior == "fail":
                raise name_already_exists()
            if behavior == "replace" and existing.is_folder:
                return json_response(item_json(call.request, existing, Paths()), status=201)
            name = free_name(parent, name)
        folder = _create_folder(call, parent, name)
    return json_response(item_json(call.request, folder, Paths()), status=201)


def download(call: Call) -> HttpResponse:
    item = item_for(call)
    if item.is_folder:
        raise errors.bad_request("Folders have no content.", "invalidRequest")
    return HttpResponseRedirect(download_url(call.request, item))


def upload(call: Call) -> HttpResponse:
    """Simple upload (PUT .../content), up to 4 MB."""
    length = int(call.request.headers.get("Content-Length") or 0)
    if length > SIMPLE_UPLOAD_LIMIT:
        raise GraphError(
            413,
            "invalidRequest",
            "The simple upload is for files up to 4 MB; use an upload session.",
        )
    parent, name, existing = target_for(call)
    behavior = _conflict_behavior(call.query.get(CONFLICT_PARAMETER), "replace")
    data = call.request.read()
    if not _path_parts(call) and existing is not None:
        return json_response(
            item_json(call.request, write_content(existing, data, _user(call)), Paths())
        )
    item, created = put_file(parent, name, data, behavior, _user(call))
    return json_response(item_json(call.request, item, Paths()), status=201 if created else 200)


@transaction.atomic
def delete_tree(item: DriveItem) -> None:
    now = timezone.now()
    level = [item]
    while level:
        for node in level:
            node.deleted_at = now
            node.revision += 1
        DriveItem.objects.bulk_update(level, ["deleted_at", "revision"])
        DriveChange.objects.bulk_create(
            [DriveChange(drive_id=n.drive_id, item_id=n.id) for n in level]
        )
        level = list(DriveItem.objects.filter(parent__in=level, deleted_at__isnull=True))


def delete_item(call: Call) -> HttpResponse:
    item = item_for(call)
    if item.parent_id is None:
        raise errors.access_denied(errors.DRIVE)
    delete_tree(item)
    return HttpResponse(status=204)


def update_item(call: Call) -> HttpResponse:
    """Rename or move (PATCH name / parentReference.id)."""
    item = item_for(call)
    data = call.json()
    parent = item.parent
    if parent is None:  # the root can't be renamed or moved
        raise errors.access_denied(errors.DRIVE)
    if isinstance(data.get("parentReference"), dict) and data["parentReference"].get("id"):
        parent = DriveItem.objects.filter(
            drive=item.drive,
            id=data["parentReference"]["id"],
            deleted_at__isnull=True,
            is_folder=True,
        ).first()
        if parent is None:
            raise errors.not_found(errors.DRIVE)
    name = str(data.get("name") or item.name)
    _check_name(name)
    clash = _child(parent, name)
    if clash is not None and clash.id != item.id:
        raise name_already_exists()
    with transaction.atomic():
        depth_change = parent.depth + 1 - item.depth
        item.parent, item.name, item.depth = parent, name, parent.depth + 1
        item.modified_at = timezone.now()
        item.revision += 1
        item.save()
        record_change(item)
        if depth_change:
            level = [item]
            while level := list(DriveItem.objects.filter(parent__in=level)):
                for node in level:
                    node.depth += depth_change
                DriveItem.objects.bulk_update(level, ["depth"])
    return json_response(item_json(call.request, item, Paths()))


# --- Versions ----------------------------------------------------------------------------


def version_json(request: HttpRequest, version: DriveItemVersion) -> dict[str, Any]:
    return {
        "id": f"{version.number}.0",
        "lastModifiedDateTime": format_time(version.modified_at),
        "size": version.size,
        "lastModifiedBy": identity(version.modified_by),
        "@microsoft.graph.downloadUrl": download_url(request, version.item, version.number),
    }


def _version_for(call: Call) -> DriveItemVersion:
    item = item_for(call)
    label = call.params["version"]
    if label.lower() == "current":
        version = item.versions.order_by("-number").first()
    else:
        match = re.fullmatch(r"(\d+)(?:\.0)?", label)
        version = item.versions.filter(number=int(match.group(1))).first() if match else None
    if version is None:
        raise errors.not_found(errors.DRIVE)
    return version


def list_versions(call: Call) -> HttpResponse:
    item = item_for(call)
    versions = item.versions.select_related("item", "modified_by").order_by("-number")
    return json_response({"value": [version_json(call.request, v) for v in versions]})


def get_version(call: Call) -> HttpResponse:
    return json_response(version_json(call.request, _version_for(call)))


def download_version(call: Call) -> HttpResponse:
    version = _version_for(call)
    return HttpResponseRedirect(download_url(call.request, version.item, version.number))


def restore_version(call: Call) -> HttpResponse:
    version = _version_for(call)
    with transaction.atomic():
        write_content(version.item, bytes(version.content), _user(call))
    return HttpResponse(status=204)


# --- Delta -------------------------------------------------------------------------------


def delta(call: Call) -> HttpResponse:
    """root/delta: a first round lists the drive (parents first), later rounds the changes;
    deleted items carry the `deleted` facet."""
    drive = call.target_drive
    size = odata.integer_option(call.request, "$top", 200, 1000)
    token = call.query.get("token")
    latest = DriveChange.objects.aggregate(m=Max("id"))["m"] or 0
    if token == "latest":  # noqa: S105 (OneDrive's "start from now" delta token)
        return _delta_page(
            call, [], {"drive": drive.id, "phase": "changes", "watermark": latest}, final=True
        )
    state = odata.unpack(token) if token else None
    if state is not None and state.get("drive") != drive.id:
        raise GraphError(
            410, "resyncRequired", "The delta token is not valid for this drive; resynchronise."
        )
    paths = Paths()
    root_of(drive)
    if state is None or state.get("phase") == "initial":
        watermark = state["watermark"] if state else latest
        depth, after = state.get("after", [-1, ""]) if state else (-1, "")
        rows = list(
            DriveItem.objects.filter(drive=drive, deleted_at__isnull=True)
            .filter(Q(depth__gt=depth) | Q(depth=depth, id__gt=after))
            .select_related("created_by", "modified_by")
            .order_by("depth", "id")[: size + 1]
        )
        page = rows[:size]
        items = [item_json(call.request, i, paths, with_download=False) for i in page]
        if len(rows) > size:
            cursor = [page[-1].depth, page[-1].id]
            return _delta_page(
                call,
                items,
                {"drive": drive.id, "phase": "initial", "watermark": watermark, "after": cursor},
                final=False,
            )
        return _delta_page(
            call, items, {"drive": drive.id, "phase": "changes", "watermark": watermark}, final=True
        )
    watermark, upper = state["watermark"], state.get("upper", latest)
    after = state.get("after", watermark)
    changes = list(
        DriveChange.objects.filter(drive_id=drive.id, id__gt=watermark, id__lte=upper)
        .values("item_id")
        .annotate(last=Max("id"))
        .filter(last__gt=after)
        .order_by("last")[: size + 1]
    )
    page_changes = changes[:size]
    found = {
        i.id: i
        for i in DriveItem.objects.filter(
            id__in=[c["item_id"] for c in page_changes]
        ).select_related("created_by", "modified_by")
    }
    items = []
    for change in page_changes:
        item = found.get(change["item_id"])
        if item is None:
            items.append({"id": change["item_id"], "deleted": {"state": "deleted"}})
        elif item.deleted_at is not None:
            items.append(
                {
                    "id": item.id,
                    "name": item.name,
                    "parentReference": {
                        "driveType": "business",
                        "driveId": item.drive_id,
                        "id": item.parent_id,
                    },
                    "deleted": {"state": "deleted"},
                    **(
                        {"folder": {"childCount": 0}}
                        if item.is_folder
                        else {"file": {"mimeType": item.mime_type}}
                    ),
                }
            )
        else:
            items.append(item_json(call.request, item, paths, with_download=False))
    if len(changes) > size:
        next_state = {
            "drive": drive.id,
            "phase": "changes",
            "watermark": watermark,
            "upper": upper,
            "after": page_changes[-1]["last"],
        }
        return _delta_page(call, items, next_state, final=False)
    return _delta_page(
        call, items, {"drive": drive.id, "phase": "changes", "watermark": upper}, final=True
    )


def _delta_page(
    call: Call, items: list[dict[str, Any]], state: dict[str, Any], *, final: bool
) -> HttpResponse:
    params = {k: v for k, v in call.query.items() if k != "token"}
    link = odata.graph_url(
        odata.request_graph_path(call.request), {**params, "token": odata.pack(state)}
    )
    key = "@odata.deltaLink" if final else "@odata.nextLink"
    return json_response(
        {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(driveItem)",
            "value": [_select(call, i) if "deleted" not in i else i for i in items],
            key: link,
        }
    )


# --- Upload sessions ---------------------------------------------------------------------


def create_upload_session(call: Call) -> HttpResponse:
    parent, name, existing = target_for(call)
    data = call.json() if call.request.headers.get("Content-Length", "0") != "0" else {}
    item = data.get("item") or {}
    behavior = _conflict_behavior(item.get(CONFLICT_PARAMETER), "replace")
    if existing is not None and behavior == "fail":
        raise name_already_exists()
    session = UploadSession.objects.create(
        id=secrets.token_urlsafe(32),
        drive=call.target_drive,
        parent=parent,
        name=name,
        conflict_behavior=behavior,
        size=item.get("fileSize"),
        created_by=_user(call),
        expires_at=timezone.now() + UPLOAD_SESSION_LIFETIME,
    )
    return json_response(
        {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.uploadSession",
            "uploadUrl": call.request.build_absolute_uri(
                reverse("sandbox:graph-upload", args=[session.id])
            ),
            "expirationDateTime": format_time(session.expires_at),
            "nextExpectedRanges": ["0-"],
        }
    )


def _session_status(session: UploadSession, status: int = 200) -> HttpResponse:
    return json_response(
        {
            "expirationDateTime": format_time(session.expires_at),
            "nextExpectedRanges": [f"{session.received}-"],
        },
        status=status,
    )


_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


def _fragment(request: HttpRequest, session: UploadSession) -> HttpResponse:
    match = _RANGE.fullmatch(request.headers.get("Content-Range", "").strip())
    if match is None:
        raise errors.bad_request(
            "The Content-Range header is missing or malformed.", "invalidRequest"
        )
    start, end, total = (int(g) for g in match.groups())
    length = end - start + 1
    if end < start or end >= total:
        raise errors.bad_request("The Content-Range header is not valid.", "invalidRequest")
    if length > FRAGMENT_LIMIT:
        raise GraphError(413, "invalidRequest", "A fragment must be smaller than 60 MiB.")
    if session.size is not None and total != session.size:
        raise errors.bad_request(
            "The total size doesn't match the size of the upload.", "invalidRequest"
        )
    if start != session.received:
        raise GraphError(
            416,
            "invalidRange",
            "The uploaded fragment overlaps with data that has already "
            "been received or skips over data not yet received.",
        )
    if end + 1 < total and length % FRAGMENT_MULTIPLE:
        raise errors.bad_request(
            "A fragment must be a multiple of 320 KiB (327,680 bytes), except the last one.",
            "invalidRequest",
        )
    data = request.read()
    if len(data) != length:
        raise errors.bad_request(
            "The Content-Range length does not match the bytes sent.", "invalidRequest"
        )
    UploadFragment.objects.create(session=session, start=start, data=data)
    session.size, session.received = total, end + 1
    if session.received < total:
        session.save(update_fields=["size", "received"])
        return _session_status(session, status=202)
    content = b"".join(bytes(f.data) for f in session.fragments.order_by("start"))
    item, created = put_file(
        session.parent, session.name, content, session.conflict_behavior, session.created_by
    )
    session.delete()
    return json_response(item_json(request, item, Paths()), status=201 if created else 200)


@csrf_exempt
def upload_session(request: HttpRequest, session_id: str) -> HttpResponse:
    """The uploadUrl: PUT a fragment, GET the status, DELETE to cancel. No token needed."""
    try:
        with transaction.atomic():
            session = (
                UploadSession.objects.select_for_update(of=("self",))
                .select_related("parent", "created_by")
                .filter(id=session_id, expires_at__gt=timezone.now())
                .first()
            )
            if session is None:
                raise GraphError(404, "itemNotFound", "The upload session was not found.")
            if request.method == "GET":
                return _session_status(session)
            if request.method == "DELETE":
                session.delete()
                return HttpResponse(status=204)
            if request.method == "PUT":
                return _fragment(request, session)
            raise errors.method_not_allowed()
    except GraphError as error:
        return error.response(request)


def download_content(request: HttpRequest, token: str) -> HttpResponse:
    """A pre-authenticated download URL (what @microsoft.graph.downloadUrl points to)."""
    try:
        state = signing.loads(token, salt=DOWNLOAD_SALT, max_age=DOWNLOAD_URL_LIFETIME)
    except signing.BadSignature:
        return HttpResponse(
            "The download link is invalid or has expired.", status=401, content_type="text/plain"
        )
    versions = DriveItemVersion.objects.filter(item_id=state["item"], item__deleted_at__isnull=True)
    version = (
        versions.filter(number=state["version"]).first()
        if state.get("version")
        else versions.order_by("-number").first()
    )
    if version is None:
        return HttpResponse("Not found.", status=404, content_type="text/plain")
    response = HttpResponse(
        bytes(version.content), content_type=version.item.mime_type or "application/octet-stream"
    )
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{_quote(version.item.name)}"
    return response


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name)
