"""Calendar reader: every calendar of a user, each read in full, with change detection.

Graph v1.0 has event delta only on a calendarView of the primary calendar (expanded
occurrences in a window); other calendars have none (docs/sandbox.md, "Calendars"). So
each run lists every calendar's events (`/calendars/{id}/events`: single instances and
series masters, with `$select`) — cheap, one page per 100 events — and fetches more only
for events whose changeKey changed since the last point (an exception or a cancelled
occurrence changes its master's item, and so its changeKey):

- a series master: `/events/{id}/instances` over the series' window (its start to its
  end, or to SERIES_HORIZON_DAYS from now for a series without end): the exceptions in
  full, and the original start of every occurrence left, so a restore can delete those
  the backed-up series no longer had (cancelled);
- attachments: listed without content, each one's bytes from `$value` into the blob store.

A Microsoft 365 group's calendar (entity "group") is read the same way at
`/groups/{id}/calendar` and `/groups/{id}/events` — one calendar, no delta for groups —
but only with a delegated token of a member or owner (Graph has no application
permission for it): the runner picks whose (restore/backup/tokens.py).

The item's content is one JSON document (the event, its exceptions and occurrences) in
the blob store; what the catalog shows and searches is in its fields and `meta`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from restore.backup.base import Change, Context, FolderRemoved, FolderSeen, ItemRemoved, ItemSeen
from restore.backup.text import body_text

SELECT = (
    "id,subject,body,start,end,originalStartTimeZone,originalEndTimeZone,isAllDay,location,"
    "locations,attendees,organizer,recurrence,type,iCalUId,categories,importance,sensitivity,"
    "showAs,reminderMinutesBeforeStart,isReminderOn,responseRequested,hasAttachments,"
    "changeKey,lastModifiedDateTime,createdDateTime"
)
INSTANCE_SELECT = SELECT + ",seriesMasterId,originalStart"
SERIES_HORIZON_DAYS = 730
PAGE = "100"


def _calendars(context: Context, base: str) -> list[dict[str, Any]]:
    """The calendars to read: a user's every calendar; a group's one."""
    if context.object.entity == "group":
        found = context.graph.get(f"{base}/calendar", **{"$select": "id,name"})
        return [{**found, "isDefaultCalendar": True}]
    return list(
        context.graph.iterate(
            f"{base}/calendars", **{"$select": "id,name,isDefaultCalendar", "$top": PAGE}
        )
    )


def _events_path(context: Context, base: str, calendar_id: str) -> str:
    if context.object.entity == "group":
        return f"{base}/events"
    return f"{base}/calendars/{calendar_id}/events"


def read(context: Context) -> Iterator[Change]:
    kind = "groups" if context.object.entity == "group" else "users"
    user = f"{kind}/{context.object.owner_id}"
    graph = context.graph
    calendars = _calendars(context, user)
    for cal in calendars:
        yield FolderSeen(
            cal["id"],
            "",
            str(cal.get("name") or ""),
            "calendar" if cal.get("isDefaultCalendar") else "",
        )
    for graph_id in set(context.current_folders) - {c["id"] for c in calendars}:
        yield FolderRemoved(graph_id)
    for cal in calendars:
        seen: set[str] = set()
        for entry in graph.iterate(
            _events_path(context, user, cal["id"]), **{"$select": SELECT, "$top": PAGE}
        ):
            seen.add(entry["id"])
            current = context.current_items.get(entry["id"])
            if (
                current is not None
                and current.version == entry.get("changeKey")
                and current.folder_graph_id == cal["id"]
                and context.content_present(current.content_sha256)
            ):
                continue
            yield _event(context, user, cal["id"], entry)
        for graph_id in context.items_in(cal["id"]) - seen:
            yield ItemRemoved(graph_id, cal["id"])
    context.delta_state = {}


def _utc(value: dict[str, Any] | None) -> datetime | None:
    """A dateTimeTimeZone Graph answered in UTC (its default) as an aware datetime."""
    text = str((value or {}).get("dateTime") or "")
    if not text:
        return None
    parsed = parse_datetime(text[:26])
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def series_window(entry: dict[str, Any]) -> tuple[datetime, datetime]:
    """The span a series' occurrences fall in (what instances are read over)."""
    start = _utc(entry.get("start")) or timezone.now()
    span = (entry.get("recurrence") or {}).get("range") or {}
    end = start + timedelta(days=SERIES_HORIZON_DAYS)
    if span.get("type") == "endDate" and span.get("endDate"):
        with contextlib.suppress(ValueError):
            end = datetime.fromisoformat(str(span["endDate"])).replace(tzinfo=UTC) + timedelta(
                days=2
            )
    elif span.get("type") == "noEnd":
        end = max(start, timezone.now()) + timedelta(days=SERIES_HORIZON_DAYS)
    return start - timedelta(days=1), end


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _instances(
    context: Context, user: str, entry: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """(exceptions, original starts of all occurrences left, the window read)."""
    start, end = series_window(entry)
    exceptions, originals = [], []
    for instance in context.graph.iterate(
        f"{user}/events/{entry['id']}/instances",
        **{
            "startDateTime": _iso(start),
            "endDateTime": _iso(end),
            "$select": INSTANCE_SELECT,
            "$top": "200",
        },
    ):
        if instance.get("originalStart"):
            originals.append(str(instance["originalStart"]))
        if instance.get("type") == "exception":
            exceptions.append(instance)
    return exceptions, sorted(originals), [_iso(start), _iso(end)]


def _attachments(context: Context, user: str, event_id: str) -> list[dict[str, Any]]:
    found = []
    base = f"{user}/events/{event_id}/attachments"
    for attachment in context.graph.iterate(
        base, **{"$select": "id,name,contentType,size,isInline"}
    ):
        response = context.graph.request("GET", f"{base}/{quote(attachment['id'], safe='')}/$value")
        address, size = context.store_content([response.content])
        found.append(
            {
                "name": str(attachment.get("name") or "attachment"),
                "contentType": str(attachment.get("contentType") or "application/octet-stream"),
                "size": size,
                "isInline": bool(attachment.get("isInline")),
                "blob": address,
            }
        )
    return found


def _people(values: list[dict[str, Any]]) -> str:
    shown = []
    for value in values:
        email = value.get("emailAddress") or {}
        name, address = str(email.get("name") or ""), str(email.get("address") or "")
        shown.append(
            f"{name} <{address}>" if name and address and name != address else name or address
        )
    return "; ".join(s for s in shown if s)


def _event(context: Context, user: str, calendar_id: str, entry: dict[str, Any]) -> ItemSeen:
    exceptions: list[dict[str, Any]] = []
    originals: list[str] = []
    window: list[str] = []
    if entry.get("type") == "seriesMaster":
        exceptions, originals, window = _instances(context, user, entry)
    attachments = _attachments(context, user, entry["id"]) if entry.get("hasAttachments") else []
    document = {
        "event": entry,
        "exceptions": exceptions,
        "occurrences": originals,
        "window": window,
    }
    raw = json.dumps(document, sort_keys=True).encode()
    address, size = context.store_content([raw])
    body = entry.get("body") or {}
    location = str((entry.get("location") or {}).get("displayName") or "")
    attendees = entry.get("attendees") or []
    start = _utc(entry.get("start")) or timezone.now()
    text = body_text(str(body.get("content") or ""), str(body.get("contentType") or "text"))
    sensitivity = str(entry.get("sensitivity") or "normal")
    meta = {
        key: entry.get(key)
        for key in (
            "start", "end", "originalStartTimeZone", "originalEndTimeZone", "isAllDay",
            "location", "recurrence", "type", "iCalUId", "organizer", "attendees",
            "categories", "importance", "showAs", "reminderMinutesBeforeStart",
            "isReminderOn", "changeKey",
        )
    }  # fmt: skip
    meta.update(
        {
            "sensitivity": sensitivity,
            "exceptions": len(exceptions),
            "occurrences": len(originals),
            "attachments": attachments,
        }
    )
    return ItemSeen(
        graph_id=entry["id"],
        folder_graph_id=calendar_id,
        fields={
            "name": str(entry.get("subject") or "")[:1000],
            "sender": _people([entry["organizer"]] if entry.get("organizer") else [])[:640],
            "recipients": _people(attendees),
            "sent_at": start,
            "dated_at": start,
            "size": size + sum(a["size"] for a in attachments),
            "has_attachments": bool(attachments),
            "sensitivity": "" if sensitivity == "normal" else sensitivity.capitalize(),
            "content_sha256": address,
            "body_text": "\n".join(part for part in (text, location, _people(attendees)) if part),
            "meta": meta,
        },
        version=str(entry.get("changeKey") or ""),
        match_key=str(entry.get("iCalUId") or ""),
    )
