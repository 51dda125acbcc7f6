"""OneDrive reader (a user's drive or a Microsoft 365 group's): `root/delta`.

First run: the whole drive (parents before children). Later runs continue from the delta
link saved in the previous point; deleted items carry the `deleted` facet. A file's bytes
come from `/content` (a redirect to a pre-authenticated download URL), streamed into the
blob store in chunks; when the quickXorHash is the one already backed up, the blob is
reused and nothing is downloaded. Version history (`/versions`) is read with `$batch`,
20 files at a time, into the item's meta. Paths are not taken from Graph (delta does not
send `parentReference.path`): the runner builds them from the folder states.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from portal.graph import MAX_BATCH, GraphError
from restore.backup.base import Change, Context, FolderRemoved, FolderSeen, ItemRemoved, ItemSeen
from restore.blobs import CHUNK

DELTA_PAGE = 200


def read(context: Context) -> Iterator[Change]:
    drive = context.object.graph_ref
    start = f"drives/{drive}/root/delta?$top={DELTA_PAGE}"
    link = context.previous_delta_state.get("drive")
    try:
        new_link = yield from _rounds(context, link or start, full=not link)
    except GraphError as error:
        if not link or error.status != 410:  # 410 resyncRequired: the link has expired
            raise
        new_link = yield from _rounds(context, start, full=True)
    context.delta_state = {"drive": new_link}


def _rounds(context: Context, url: str, *, full: bool) -> Generator[Change, None, str]:
    seen: set[str] = set()
    while True:
        page = context.graph.get(url)
        files = []
        for entry in page.get("value", []):
            graph_id = entry["id"]
            if "deleted" in entry:
                if graph_id in context.current_folders:
                    yield FolderRemoved(graph_id)
                else:
                    yield ItemRemoved(graph_id)
                continue
            seen.add(graph_id)
            if "root" in entry:
                yield FolderSeen(graph_id, "", "", "root")
            elif "folder" in entry:
                parent = (entry.get("parentReference") or {}).get("id", "")
                yield FolderSeen(graph_id, parent, entry.get("name", ""))
            elif "file" in entry:
                files.append(entry)
        yield from _files(context, files)
        if next_link := page.get("@odata.nextLink"):
            url = next_link
            continue
        if full:  # a full read: whatever the catalog has and Graph no longer lists is gone
            for graph_id in set(context.current_items) - seen:
                yield ItemRemoved(graph_id)
            for graph_id in set(context.current_folders) - seen:
                yield FolderRemoved(graph_id)
        return page.get("@odata.deltaLink", "")


def _files(context: Context, entries: list[dict[str, Any]]) -> Iterator[ItemSeen]:
    drive = context.object.graph_ref
    changed = [e for e in entries if not _unchanged(context, e)]
    for start in range(0, len(changed), MAX_BATCH):
        chunk = changed[start : start + MAX_BATCH]
        versions = _versions(context, drive, chunk)
        for entry in chunk:
            yield _item(context, drive, entry, versions.get(entry["id"], []))


def _unchanged(context: Context, entry: dict[str, Any]) -> bool:
    current = context.current_items.get(entry["id"])
    parent = (entry.get("parentReference") or {}).get("id", "")
    return (
        current is not None
        and current.version == entry.get("eTag", "")
        and current.folder_graph_id == parent
        and context.content_present(current.content_sha256)
    )


def _versions(
    context: Context, drive: str, entries: list[dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    if not entries:
        return {}
    answers = context.graph.get_many(
        {str(n): f"/drives/{drive}/items/{e['id']}/versions" for n, e in enumerate(entries)}
    )
    result: dict[str, list[dict[str, Any]]] = {}
    for n, entry in enumerate(entries):
        status, body = answers[str(n)]
        if status != 200 or not isinstance(body, dict):
            # Failed in the batch: ask on its own, which raises GraphError if it fails again.
            body = context.graph.get(f"drives/{drive}/items/{entry['id']}/versions")
        result[entry["id"]] = [
            {
                "id": v.get("id", ""),
                "lastModifiedDateTime": v.get("lastModifiedDateTime"),
                "size": v.get("size", 0),
                "lastModifiedBy": v.get("lastModifiedBy") or {},
            }
            for v in body.get("value", [])
        ]
    return result


def _content(context: Context, drive: str, entry: dict[str, Any]) -> tuple[str, int]:
    """The file's bytes into the blob store, unless the same content is there already."""
    file_hash = ((entry.get("file") or {}).get("hashes") or {}).get("quickXorHash", "")
    current = context.current_items.get(entry["id"])
    if (
        current is not None
        and file_hash
        and current.content_version == file_hash
        and context.content_present(current.content_sha256)
    ):
        return current.content_sha256, int(entry.get("size") or 0)
    if download_url := entry.get("@microsoft.graph.downloadUrl"):  # pre-authenticated
        response = context.graph.request("GET", download_url, authenticate=False, stream=True)
    else:  # a redirect to such a URL
        response = context.graph.request(
            "GET", f"drives/{drive}/items/{entry['id']}/content", stream=True
        )
    with response:
        return context.store_content(response.iter_content(CHUNK))


def _who(identity_set: Any) -> dict[str, str]:
    user = (identity_set or {}).get("user") or {}
    return {
        "id": str(user.get("id") or ""),
        "displayName": str(user.get("displayName") or ""),
        "email": str(user.get("email") or ""),
    }


def _item(
    context: Context, drive: str, entry: dict[str, Any], versions: list[dict[str, Any]]
) -> ItemSeen:
    sha256, size = _content(context, drive, entry)
    file = entry.get("file") or {}
    modified_by = _who(entry.get("lastModifiedBy"))
    file_hash = (file.get("hashes") or {}).get("quickXorHash", "")
    meta = {
        "mimeType": file.get("mimeType", ""),
        "quickXorHash": file_hash,
        "eTag": entry.get("eTag", ""),
        "cTag": entry.get("cTag", ""),
        "parentReference": entry.get("parentReference") or {},
        "createdDateTime": entry.get("createdDateTime"),
        "lastModifiedDateTime": entry.get("lastModifiedDateTime"),
        "createdBy": entry.get("createdBy") or {},
        "lastModifiedBy": entry.get("lastModifiedBy") or {},
        "webUrl": entry.get("webUrl", ""),
        "versions": versions,
    }
    return ItemSeen(
        graph_id=entry["id"],
        folder_graph_id=(entry.get("parentReference") or {}).get("id", ""),
        fields={
            "name": str(entry.get("name") or "")[:1000],
            "sender": modified_by["displayName"] or modified_by["email"],
            "dated_at": parse_datetime(entry.get("lastModifiedDateTime") or "") or timezone.now(),
            "size": size,
            "content_sha256": sha256,
            "meta": meta,
        },
        version=str(entry.get("eTag") or ""),
        content_version=file_hash,
    )
