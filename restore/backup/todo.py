"""Microsoft To Do reader: the person's task lists, then `tasks/delta` per list.

Token-agnostic: it reads `/users/{id}/todo/…` with `context.graph`, which Graph serves to
an application token with Tasks.Read.All and to the person's own delegated token with
Tasks.Read alike (docs/sandbox.md, "To Do"). As for contacts: the first run reads each
list's delta from the start, later runs go on from the links of the previous point
(`delta_state`); a link Graph no longer accepts means that list is read again in full.

Each added or changed task (todoTask has no changeKey: its `@odata.etag`, else its
lastModifiedDateTime, is the version) is stored as one JSON document — the task with its
checklistItems, linkedResources and attachments — and each attachment's bytes as a blob
of their own. The three collections of a page's tasks are asked for in `$batch`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Generator, Iterator
from typing import Any
from urllib.parse import quote

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from portal.graph import GraphError
from restore.backup.base import (
    Change,
    Context,
    FolderRemoved,
    FolderSeen,
    ItemSeen,
    delta_pages,
    delta_with_resync,
)
from restore.backup.text import body_text

DELTA_PAGE = 100
STATUS = {
    "notStarted": "Not started",
    "inProgress": "In progress",
    "completed": "Completed",
    "waitingOnOthers": "Waiting on others",
    "deferred": "Deferred",
}
DATES = ("dueDateTime", "reminderDateTime", "startDateTime", "completedDateTime")


def read(context: Context) -> Iterator[Change]:
    user = f"users/{context.object.owner_id}"
    lists = list(context.graph.iterate(f"{user}/todo/lists", **{"$top": "100"}))
    for entry in lists:
        well_known = "tasks" if entry.get("wellknownListName") == "defaultList" else ""
        yield FolderSeen(str(entry["id"]), "", str(entry.get("displayName") or ""), well_known)
    for graph_id in set(context.current_folders) - {str(e["id"]) for e in lists}:
        yield FolderRemoved(graph_id)
    old = context.previous_delta_state.get("lists", {})
    links = {}
    for entry in lists:
        list_id = str(entry["id"])
        links[list_id] = yield from _list(context, user, list_id, old.get(list_id))
    context.delta_state = {"lists": links}


def _list(
    context: Context, user: str, list_id: str, link: str | None
) -> Generator[Change, None, str]:
    start = f"{user}/todo/lists/{quote(list_id, safe='')}/tasks/delta"
    return (
        yield from delta_with_resync(
            lambda url, full: _rounds(context, user, list_id, url, full=full), start, link
        )
    )


def version_of(entry: dict[str, Any]) -> str:
    return str(entry.get("@odata.etag") or entry.get("lastModifiedDateTime") or "")


def _rounds(
    context: Context, user: str, list_id: str, url: str, *, full: bool
) -> Generator[Change, None, str]:
    def changed(tasks: list[dict[str, Any]]) -> Iterator[Change]:
        parts = _parts(context, user, list_id, tasks)
        for entry, its_parts in zip(tasks, parts, strict=True):
            yield _task(context, user, list_id, entry, its_parts)

    return (
        yield from delta_pages(
            context, url, list_id, version_of, changed, full=full, page_size=DELTA_PAGE
        )
    )


def _parts(
    context: Context, user: str, list_id: str, tasks: list[dict[str, Any]]
) -> list[dict[str, list[dict[str, Any]]]]:
    """Each task's checklistItems, linkedResources and attachments (without content)."""
    urls = {}
    for n, entry in enumerate(tasks):
        # $batch urls are not decoded again: ids as they are (URL-safe base64).
        base = f"/{user}/todo/lists/{list_id}/tasks/{entry['id']}"
        urls[f"{n}c"] = f"{base}/checklistItems"
        urls[f"{n}l"] = f"{base}/linkedResources"
        if entry.get("hasAttachments"):
            urls[f"{n}a"] = f"{base}/attachments"
    answers = context.graph.get_many(urls)
    found: list[dict[str, list[dict[str, Any]]]] = []
    for n in range(len(tasks)):
        parts = {}
        for key, name in (("c", "checklistItems"), ("l", "linkedResources"), ("a", "attachments")):
            status, body = answers.get(f"{n}{key}", (200, {"value": []}))
            if status >= 400:
                raise GraphError.from_batch(status, body)
            parts[name] = list((body or {}).get("value") or [])
        found.append(parts)
    return found


def _attachments(
    context: Context, user: str, list_id: str, task_id: str, listed: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    kept = []
    base = (
        f"{user}/todo/lists/{quote(list_id, safe='')}/tasks/{quote(task_id, safe='')}/attachments"
    )
    for attachment in listed:
        full = context.graph.get(f"{base}/{quote(str(attachment['id']), safe='')}")
        content = base64.b64decode(str(full.get("contentBytes") or ""))
        address, size = context.store_content([content])
        kept.append(
            {
                "name": str(attachment.get("name") or "attachment"),
                "contentType": str(attachment.get("contentType") or "application/octet-stream"),
                "size": size,
                "blob": address,
            }
        )
    return kept


def _task(
    context: Context,
    user: str,
    list_id: str,
    entry: dict[str, Any],
    parts: dict[str, list[dict[str, Any]]],
) -> ItemSeen:
    attachments = _attachments(context, user, list_id, str(entry["id"]), parts["attachments"])
    checklist = [
        {k: c.get(k) for k in ("displayName", "isChecked", "checkedDateTime") if k in c}
        for c in parts["checklistItems"]
    ]
    linked = [
        {k: r.get(k) for k in ("webUrl", "applicationName", "displayName", "externalId")}
        for r in parts["linkedResources"]
    ]
    document = {
        "task": {k: v for k, v in entry.items() if not k.startswith("@")},
        "checklistItems": checklist,
        "linkedResources": linked,
    }
    address, size = context.store_content([json.dumps(document, sort_keys=True).encode()])
    body = entry.get("body") or {}
    text = body_text(str(body.get("content") or ""), str(body.get("contentType") or "text"))
    modified = parse_datetime(str(entry.get("lastModifiedDateTime") or "")) or timezone.now()
    created = parse_datetime(str(entry.get("createdDateTime") or "")) or modified
    title = str(entry.get("title") or "")
    search = [title, text, *(str(c.get("displayName") or "") for c in checklist),
              *(str(r.get("displayName") or "") for r in linked),
              *map(str, entry.get("categories") or [])]  # fmt: skip
    meta: dict[str, Any] = {key: entry.get(key) for key in DATES if entry.get(key)}
    meta.update(
        {
            "status": str(entry.get("status") or "notStarted"),
            "importance": str(entry.get("importance") or "normal"),
            "isReminderOn": bool(entry.get("isReminderOn")),
            "recurrence": entry.get("recurrence"),
            "categories": list(entry.get("categories") or []),
            "checklistItems": checklist,
            "linkedResources": linked,
            "attachments": attachments,
        }
    )
    return ItemSeen(
        graph_id=str(entry["id"]),
        folder_graph_id=list_id,
        fields={
            "name": title[:1000],
            "sender": STATUS.get(meta["status"], meta["status"])[:640],
            "recipients": "",
            "sent_at": created,
            "dated_at": modified,
            "size": size + sum(a["size"] for a in attachments),
            "is_read": meta["status"] == "completed",
            "has_attachments": bool(attachments),
            "content_sha256": address,
            "body_text": "\n".join(s for s in search if s)[:65536],
            "meta": meta,
        },
        version=version_of(entry),
    )
