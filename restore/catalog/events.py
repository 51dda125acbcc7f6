"""Backed-up events, contacts and To Do tasks for people: time zones, recurrence in words, and the
context of their preview partials (templates/restore/items/event.html, contact.html).

Graph names time zones the Windows way ("W. Europe Standard Time") or the IANA way;
tzlocal's CLDR table (windowsZones.xml) maps the first to the second, zoneinfo does the
rest. A name neither knows has no UTC offset Lifeboat can compute: callers say so.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import win_tz

from restore.blobs import blob_store
from restore.models import Item

ORDINALS = {
    "first": "first",
    "second": "second",
    "third": "third",
    "fourth": "fourth",
    "last": "last",
}
MONTHS = [
    "", "January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December",
]  # fmt: skip


def zone(name: str | None) -> ZoneInfo | None:
    """The zone a Graph time zone name means, or None when it has no IANA equivalent."""
    key = (name or "UTC").strip()
    try:
        return ZoneInfo(win_tz.get(key, key))
    except (ZoneInfoNotFoundError, ValueError):
        return None


def parse_utc(value: dict[str, Any] | None) -> datetime | None:
    """A dateTimeTimeZone as Graph answers it (UTC unless it says otherwise)."""
    value = value or {}
    text = str(value.get("dateTime") or "")[:26]
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", ""))
    except ValueError:
        return None
    source = zone(str(value.get("timeZone") or "UTC")) or UTC
    return moment.replace(tzinfo=source).astimezone(UTC)


def in_zone(value: dict[str, Any] | None, zone_name: str) -> dict[str, str] | None:
    """The same moment as a dateTimeTimeZone in `zone_name` (None: not convertible)."""
    moment, target = parse_utc(value), zone(zone_name)
    if moment is None or target is None:
        return None
    return {
        "dateTime": moment.astimezone(target).strftime("%Y-%m-%dT%H:%M:%S"),
        "timeZone": zone_name,
    }


def recurrence_words(recurrence: dict[str, Any] | None) -> str:
    """ "Every 2 weeks on Monday and Thursday, 12 times" — a patternedRecurrence in words."""
    if not recurrence:
        return ""
    pattern = recurrence.get("pattern") or {}
    span = recurrence.get("range") or {}
    interval = int(pattern.get("interval") or 1)
    kind = str(pattern.get("type") or "")
    days = " and ".join(str(d).capitalize() for d in pattern.get("daysOfWeek") or [])
    unit = {"daily": "day", "weekly": "week"}.get(kind, "month" if "Monthly" in kind else "year")
    every = f"Every {unit}" if interval == 1 else f"Every {interval} {unit}s"
    if kind == "weekly" and days:
        every += f" on {days}"
    elif kind == "absoluteMonthly":
        every += f" on day {pattern.get('dayOfMonth')}"
    elif kind == "relativeMonthly":
        every += f" on the {ORDINALS.get(str(pattern.get('index') or 'first'), 'first')} {days}"
    elif kind == "absoluteYearly":
        month = int(pattern.get("month") or 0)
        every += f" on {MONTHS[month] if 0 < month < 13 else ''} {pattern.get('dayOfMonth')}"
    elif kind == "relativeYearly":
        month = int(pattern.get("month") or 0)
        every += (
            f" on the {ORDINALS.get(str(pattern.get('index') or 'first'), 'first')} {days} of "
            f"{MONTHS[month] if 0 < month < 13 else ''}"
        )
    if span.get("type") == "numbered":
        every += f", {span.get('numberOfOccurrences')} times"
    elif span.get("type") == "endDate":
        every += f", until {span.get('endDate')}"
    every += f", from {span.get('startDate')}" if span.get("startDate") else ""
    return every


def document(item: Item) -> dict[str, Any]:
    """The JSON the backup stored for an event or a contact."""
    with blob_store().open(item.content_sha256) as stream:
        loaded: dict[str, Any] = json.loads(stream.read())
    return loaded


def _person(value: dict[str, Any] | None) -> str:
    email = (value or {}).get("emailAddress") or {}
    name, address = str(email.get("name") or ""), str(email.get("address") or "")
    return f"{name} <{address}>" if name and address and name != address else name or address


def local_times(meta: dict[str, Any]) -> tuple[str, str, str]:
    """(start, end, zone) as the organiser wrote them, for display."""
    zone_name = str(meta.get("originalStartTimeZone") or "UTC")
    shown = [in_zone(meta.get(k), zone_name) for k in ("start", "end")]
    if None in shown:  # a zone Lifeboat cannot convert: show UTC, and say so
        zone_name = f"UTC ({meta.get('originalStartTimeZone')} is not a known time zone)"
        shown = [
            {"dateTime": str((meta.get(k) or {}).get("dateTime") or "")[:19]}
            for k in ("start", "end")
        ]
    start, end = (str((s or {}).get("dateTime", "")).replace("T", " ")[:16] for s in shown)
    if meta.get("isAllDay"):
        start, end = start[:10], end[:10]
    return start, end, zone_name


def event_context(item: Item) -> dict[str, Any]:
    """What the event partial shows besides the item's own fields."""
    meta = item.meta or {}
    start, end, zone_name = local_times(meta)
    return {
        "event": {
            "start": start,
            "end": end,
            "zone": zone_name,
            "all_day": bool(meta.get("isAllDay")),
            "organizer": _person(meta.get("organizer")),
            "attendees": [
                {"who": _person(a), "type": str(a.get("type") or "required")}
                for a in meta.get("attendees") or []
            ],
            "location": str((meta.get("location") or {}).get("displayName") or ""),
            "recurrence": recurrence_words(meta.get("recurrence")),
            "exceptions": int(meta.get("exceptions") or 0),
            "occurrences": int(meta.get("occurrences") or 0),
            "categories": meta.get("categories") or [],
            "importance": meta.get("importance") or "normal",
            "show_as": meta.get("showAs") or "busy",
            "reminder": meta.get("reminderMinutesBeforeStart")
            if meta.get("isReminderOn", True)
            else None,
        },
        "attachments": [
            {"name": a.get("name"), "size": a.get("size"), "content_type": a.get("contentType")}
            for a in meta.get("attachments") or []
        ],
    }


def contact_context(item: Item) -> dict[str, Any]:
    """What the contact card shows besides the item's own fields."""
    data = document(item)
    return {
        "contact": {
            "name": item.name,
            "company": data.get("companyName") or "",
            "job_title": data.get("jobTitle") or "",
            "department": data.get("department") or "",
            "emails": [str(e.get("address") or "") for e in data.get("emailAddresses") or []],
            "phones": [
                *(("business", p) for p in data.get("businessPhones") or []),
                *(("home", p) for p in data.get("homePhones") or []),
                *((("mobile", data["mobilePhone"]),) if data.get("mobilePhone") else ()),
            ],
            "addresses": (item.meta or {}).get("addresses") or [],
            "birthday": str(data.get("birthday") or "")[:10],
            "notes": str(data.get("personalNotes") or ""),
            "has_photo": bool((item.meta or {}).get("photo")),
        }
    }


TASK_STATUS = {
    "notStarted": "Not started",
    "inProgress": "In progress",
    "completed": "Completed",
    "waitingOnOthers": "Waiting on others",
    "deferred": "Deferred",
}


def _task_time(value: dict[str, Any] | None) -> str:
    """A task's date as written, with its zone ("2025-09-30 09:00 W. Europe Standard Time")."""
    if not value or not value.get("dateTime"):
        return ""
    text = str(value["dateTime"]).replace("T", " ")[:16]
    return f"{text} {value.get('timeZone') or 'UTC'}"


def task_context(item: Item) -> dict[str, Any]:
    """What the task partial shows besides the item's own fields (all from `meta`)."""
    meta = item.meta or {}
    return {
        "task": {
            "status": TASK_STATUS.get(str(meta.get("status")), str(meta.get("status") or "")),
            "importance": str(meta.get("importance") or "normal"),
            "due": _task_time(meta.get("dueDateTime")),
            "start": _task_time(meta.get("startDateTime")),
            "reminder": _task_time(meta.get("reminderDateTime"))
            if meta.get("isReminderOn")
            else "",
            "completed": _task_time(meta.get("completedDateTime")),
            "recurrence": recurrence_words(meta.get("recurrence")),
            "categories": meta.get("categories") or [],
            "checklist": [
                {"name": str(c.get("displayName") or ""), "checked": bool(c.get("isChecked"))}
                for c in meta.get("checklistItems") or []
            ],
            "linked": [
                {
                    "name": str(r.get("displayName") or ""),
                    "application": str(r.get("applicationName") or ""),
                    "url": str(r.get("webUrl") or ""),
                }
                for r in meta.get("linkedResources") or []
            ],
        },
        "attachments": [
            {"name": a.get("name"), "size": a.get("size"), "content_type": a.get("contentType")}
            for a in meta.get("attachments") or []
        ],
    }
