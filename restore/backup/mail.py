"""Mailbox reader: the visible folder tree, then `messages/delta` per folder.

First run: every folder's delta from the start (all its messages). Later runs continue
from the delta links saved in the previous point's `delta_state`; Graph then returns
added and changed messages in full and moved-out or deleted ones as `@removed`. Graph's
default ids are mutable, so a moved message is removed from one folder and added under a
new id in another: `match_key` (internetMessageId) lets the runner count it as a move.

Added and changed messages' MIME (`$value`, to the blob store) comes with `$batch`, up
to 20 messages a call. Sensitivity is extended property Integer 0x0036 (Graph v1.0
messages have no such property): one listing per folder on a full read, else asked per
message in the same batch. The attachment list (name, size, type) is read from the MIME
here, so a preview needs no MIME parse. MIME arrives base64 in the batch answer, in
memory: fine for mail (at most 150 MB a message, usually far less).
"""

from __future__ import annotations

import base64
import email.policy
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from email.parser import BytesParser
from typing import Any
from urllib.parse import quote

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from portal.graph import MAX_BATCH, GraphClient, GraphError
from restore.backup.base import (
    Change,
    Context,
    FolderRemoved,
    FolderSeen,
    ItemRemoved,
    ItemSeen,
    delta_with_resync,
)
from restore.backup.text import body_text

WELL_KNOWN = ("inbox", "drafts", "sentitems", "deleteditems", "archive", "junkemail", "outbox")
SELECT = (
    "id,subject,from,sender,toRecipients,ccRecipients,bccRecipients,replyTo,receivedDateTime,"
    "sentDateTime,isRead,"
    "isDraft,hasAttachments,importance,internetMessageId,conversationId,flag,categories,body,"
    "changeKey,parentFolderId,internetMessageHeaders"
)
SENSITIVITY_PROPERTY = "Integer 0x0036"
SENSITIVITY_EXPAND = f"singleValueExtendedProperties($filter=id eq '{SENSITIVITY_PROPERTY}')"
SENSITIVITY_NAMES = {1: "Personal", 2: "Private", 3: "Confidential"}
DELTA_PAGE = 100


@dataclass(frozen=True)
class MailFolder:
    graph_id: str
    parent_graph_id: str
    name: str


def read(context: Context) -> Iterator[Change]:
    mailbox = f"users/{context.object.owner_id}"
    previous = context.previous_delta_state
    well_known = previous.get("well_known") or _well_known_ids(context.graph, mailbox)
    folders = list(_folder_tree(context.graph, mailbox))
    seen = {f.graph_id for f in folders}
    for folder in folders:
        yield FolderSeen(
            folder.graph_id,
            folder.parent_graph_id,
            folder.name,
            well_known.get(folder.graph_id, ""),
        )
    for graph_id in set(context.current_folders) - seen:
        yield FolderRemoved(graph_id)
    links: dict[str, str] = {}
    old_links = previous.get("folders", {})
    for folder in folders:
        links[folder.graph_id] = yield from _folder_changes(
            context, mailbox, folder.graph_id, old_links.get(folder.graph_id)
        )
    context.delta_state = {"well_known": well_known, "folders": links}


def _well_known_ids(graph: GraphClient, mailbox: str) -> dict[str, str]:
    """Folder id -> well-known name (inbox, sentitems…), asked once per mailbox."""
    answers = graph.get_many(
        {name: f"/{mailbox}/mailFolders/{name}?$select=id" for name in WELL_KNOWN}
    )
    return {
        body["id"]: name
        for name, (status, body) in answers.items()
        if status == 200 and isinstance(body, dict)
    }


def _folder_tree(graph: GraphClient, mailbox: str) -> Iterator[MailFolder]:
    """The visible folders, parents before children (hidden ones are not listed by Graph)."""
    level = [("", f"{mailbox}/mailFolders")]
    while level:
        next_level = []
        for parent, path in level:
            for entry in graph.iterate(path, **{"$top": "250"}):
                yield MailFolder(entry["id"], parent, entry.get("displayName", ""))
                if entry.get("childFolderCount"):
                    next_level.append(
                        (entry["id"], f"{mailbox}/mailFolders/{entry['id']}/childFolders")
                    )
        level = next_level


def _folder_changes(
    context: Context, mailbox: str, folder_id: str, link: str | None
) -> Generator[Change, None, str]:
    """The folder's changes since `link` (everything when None); returns the next link."""
    start = f"{mailbox}/mailFolders/{folder_id}/messages/delta?$select={SELECT}"
    return (
        yield from delta_with_resync(
            lambda url, full: _delta_rounds(context, mailbox, folder_id, url, full=full),
            start,
            link,
        )
    )


def _delta_rounds(
    context: Context, mailbox: str, folder_id: str, url: str, *, full: bool
) -> Generator[Change, None, str]:
    headers = {"Prefer": f"odata.maxpagesize={DELTA_PAGE}"}
    seen: set[str] = set()
    # A full read asks the folder's sensitivities in one listing, not message by message.
    levels: dict[str, int] | None = None
    while True:
        page = context.graph.request("GET", url, headers=headers).json()
        wanted = []
        for entry in page.get("value", []):
            if "@removed" in entry:
                yield ItemRemoved(entry["id"], folder_id)
                continue
            seen.add(entry["id"])
            current = context.current_items.get(entry["id"])
            unchanged = (
                current is not None
                and current.version == entry.get("changeKey")
                and current.folder_graph_id == folder_id
                and context.content_present(current.content_sha256)
            )
            if not unchanged:
                wanted.append(entry)
        if full and wanted and levels is None:
            levels = _folder_sensitivities(context.graph, mailbox, folder_id)
        yield from _messages(context, mailbox, folder_id, wanted, levels or {})
        if next_link := page.get("@odata.nextLink"):
            url = next_link
            continue
        if full:  # a full read: what the catalog has and Graph no longer lists is gone
            for graph_id in context.items_in(folder_id) - seen:
                yield ItemRemoved(graph_id, folder_id)
        return page.get("@odata.deltaLink", "")


def _folder_sensitivities(graph: GraphClient, mailbox: str, folder_id: str) -> dict[str, int]:
    """Message id -> PidTagSensitivity for a whole folder, 1,000 messages a request."""
    levels = {}
    for entry in graph.iterate(
        f"{mailbox}/mailFolders/{folder_id}/messages",
        **{"$select": "id", "$top": "1000", "$expand": SENSITIVITY_EXPAND},
    ):
        levels[entry["id"]] = _sensitivity_level(entry)
    return levels


def _messages(
    context: Context,
    mailbox: str,
    folder_id: str,
    entries: list[dict[str, Any]],
    levels: dict[str, int],
) -> Iterator[ItemSeen]:
    start = 0
    while start < len(entries):
        chunk: list[dict[str, Any]] = []
        requests: list[dict[str, str]] = []
        while start < len(entries):
            more = _extras_requests(mailbox, len(chunk), entries[start], levels)
            if len(requests) + len(more) > MAX_BATCH:
                break
            chunk.append(entries[start])
            requests += more
            start += 1
        answers = _batch(context.graph, requests)
        for n, entry in enumerate(chunk):
            mime = base64.b64decode(answers[f"{n}v"])
            sha256, size = context.store_content([mime])
            level = levels[entry["id"]] if entry["id"] in levels else answers.get(f"{n}p")
            attachments = _attachments(mime) if entry.get("hasAttachments") else []
            yield _item(entry, folder_id, sha256, size, level, attachments)


def _extras_requests(
    mailbox: str, n: int, entry: dict[str, Any], levels: dict[str, int]
) -> list[dict[str, str]]:
    """The batch requests for one message: its MIME, and its sensitivity unless known."""
    message = f"/{mailbox}/messages/{entry['id']}"
    requests = [{"id": f"{n}v", "method": "GET", "url": f"{message}/$value"}]
    if entry["id"] not in levels:
        expand = quote(SENSITIVITY_EXPAND)
        requests.append(
            {"id": f"{n}p", "method": "GET", "url": f"{message}?$select=id&$expand={expand}"}
        )
    return requests


def _batch(graph: GraphClient, requests: list[dict[str, str]]) -> dict[str, Any]:
    """Bodies of GET requests sent as `$batch` by request id (GraphClient.get_many retries
    the throttled ones); any other failure raises GraphError."""
    bodies: dict[str, Any] = {}
    answers = graph.get_many({request["id"]: request["url"] for request in requests})
    for key, (status, body) in answers.items():
        if status >= 400:
            raise GraphError.from_batch(status, body)
        bodies[key] = body
    return bodies


def _attachments(mime: bytes) -> list[dict[str, Any]]:
    """Name, size and type of each attachment, read from the MIME once at backup time.

    `part` is the attachment's position among the MIME's attachments (what a preview or
    download extracts); Graph's attachment ids name items of a mailbox that may be gone.
    """
    message = BytesParser(policy=email.policy.default).parsebytes(mime)
    found = []
    for part_number, part in enumerate(message.iter_attachments()):
        payload = part.get_payload(decode=True) or b""
        found.append(
            {
                "part": part_number,
                "name": part.get_filename() or f"attachment {part_number + 1}",
                "size": len(payload),
                "contentType": part.get_content_type(),
                "contentId": (part.get("Content-ID") or "").strip("<>"),
                "isInline": part.get_content_disposition() == "inline",
            }
        )
    return found


def _address(value: dict[str, Any] | None) -> dict[str, str]:
    email = (value or {}).get("emailAddress") or {}
    return {"name": str(email.get("name") or ""), "address": str(email.get("address") or "")}


def _display(address: dict[str, str]) -> str:
    if address["name"] and address["address"]:
        return f"{address['name']} <{address['address']}>"
    return address["name"] or address["address"]


def _label_name(headers: list[dict[str, Any]]) -> str:
    """The Purview label's name from the msip_labels header ("MSIP_Label_<id>_Name=…")."""
    for header in headers or []:
        if str(header.get("name", "")).lower() != "msip_labels":
            continue
        for part in str(header.get("value", "")).split(";"):
            key, _, value = part.strip().partition("=")
            if key.startswith("MSIP_Label_") and key.endswith("_Name"):
                return value.strip()
    return ""


def _property_id(value: str) -> str:
    """'Integer 0x0036' and 'Integer 0x36' name one property."""
    kind, _, tag = value.strip().lower().partition(" ")
    return f"{kind} {int(tag, 16):#x}" if tag.startswith("0x") else value.lower()


def _sensitivity_level(extras: Any) -> int:
    for prop in (extras or {}).get("singleValueExtendedProperties", []):
        if _property_id(str(prop.get("id", ""))) == _property_id(SENSITIVITY_PROPERTY):
            try:
                return int(prop.get("value", 0))
            except (TypeError, ValueError):
                return 0
    return 0


def _item(
    entry: dict[str, Any],
    folder_id: str,
    sha256: str,
    size: int,
    extras: Any,
    attachments: list[dict[str, Any]],
) -> ItemSeen:
    sender = _address(entry.get("from") or entry.get("sender"))
    to = [_address(r) for r in entry.get("toRecipients") or []]
    cc = [_address(r) for r in entry.get("ccRecipients") or []]
    received = parse_datetime(entry.get("receivedDateTime") or "")
    sent = parse_datetime(entry.get("sentDateTime") or "")
    level = extras if isinstance(extras, int) else _sensitivity_level(extras)
    label = _label_name(entry.get("internetMessageHeaders") or [])
    body = entry.get("body") or {}
    # Graph's own shapes (emailAddress objects, the flag object), as restore sends them back.
    meta = {
        "from": entry.get("from"),
        "sender": entry.get("sender"),
        "toRecipients": entry.get("toRecipients") or [],
        "ccRecipients": entry.get("ccRecipients") or [],
        "bccRecipients": entry.get("bccRecipients") or [],
        "replyTo": entry.get("replyTo") or [],
        "internetMessageId": entry.get("internetMessageId", ""),
        "conversationId": entry.get("conversationId", ""),
        "importance": entry.get("importance", "normal"),
        "flag": entry.get("flag") or {"flagStatus": "notFlagged"},
        "categories": entry.get("categories") or [],
        "isRead": bool(entry.get("isRead")),
        "isDraft": bool(entry.get("isDraft")),
        "receivedDateTime": entry.get("receivedDateTime"),
        "sentDateTime": entry.get("sentDateTime"),
        "parentFolderId": folder_id,
        "sensitivity": level,
        "sensitivityLabel": label,
        "attachments": attachments,
        "changeKey": entry.get("changeKey", ""),
    }
    return ItemSeen(
        graph_id=entry["id"],
        folder_graph_id=folder_id,
        fields={
            "name": str(entry.get("subject") or "")[:1000],
            "sender": _display(sender)[:640],
            "recipients": "; ".join(_display(a) for a in to + cc),
            "sent_at": sent,
            "dated_at": received or sent or timezone.now(),
            "size": size,
            "is_read": bool(entry.get("isRead")),
            "has_attachments": bool(entry.get("hasAttachments")),
            "sensitivity": (label or SENSITIVITY_NAMES.get(level, ""))[:100],
            "content_sha256": sha256,
            "body_text": body_text(str(body.get("content") or ""), body.get("contentType", "html")),
            "meta": meta,
        },
        version=str(entry.get("changeKey") or ""),
        match_key=str(entry.get("internetMessageId") or ""),
    )
