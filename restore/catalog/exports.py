"""Backed-up events as iCalendar (.ics, with the `icalendar` package), contacts as vCard
3.0 (.vcf, with `vobject`), To Do tasks as iCalendar VTODOs (.ics) or as JSON: one item,
or many in one file (a calendar of events or tasks, a vCard file of contacts).

An event keeps its UID (Outlook's iCalUId), times in the time zone it was written in
(VTIMEZONE added by icalendar), attendees and organiser, categories, class, priority,
transparency and its reminder. A series is one VEVENT with its RRULE (from Graph's
patternedRecurrence), an EXDATE for each occurrence the backup no longer had (the
pattern expanded with dateutil's rrule over the backed-up window), and one VEVENT with a
RECURRENCE-ID for each changed occurrence.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import icalendar
import nh3
import vobject
from dateutil import rrule

from restore.blobs import blob_store
from restore.catalog.events import document, parse_utc, zone
from restore.models import Item

DAYS = {
    "monday": "MO",
    "tuesday": "TU",
    "wednesday": "WE",
    "thursday": "TH",
    "friday": "FR",
    "saturday": "SA",
    "sunday": "SU",
}
INDEX = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
FREQ = {
    "daily": "DAILY",
    "weekly": "WEEKLY",
    "absoluteMonthly": "MONTHLY",
    "relativeMonthly": "MONTHLY",
    "absoluteYearly": "YEARLY",
    "relativeYearly": "YEARLY",
}
CLASS = {"private": "PRIVATE", "personal": "PRIVATE", "confidential": "CONFIDENTIAL"}
PRIORITY = {"high": 1, "normal": 5, "low": 9}


@dataclass(frozen=True)
class Export:
    """How a workload's items download: one file for one item or many."""

    suffix: str
    content_type: str
    render: Callable[[list[Item]], bytes]


# --- iCalendar ---------------------------------------------------------------------------


def rrule_of(recurrence: dict[str, Any], zone_name: str) -> dict[str, Any]:
    pattern = recurrence.get("pattern") or {}
    span = recurrence.get("range") or {}
    rule: dict[str, Any] = {
        "FREQ": FREQ[str(pattern.get("type"))],
        "INTERVAL": int(pattern.get("interval") or 1),
    }
    days = [DAYS[str(d).lower()] for d in pattern.get("daysOfWeek") or [] if str(d).lower() in DAYS]
    kind = str(pattern.get("type"))
    if days:
        rule["BYDAY"] = days
    if kind == "weekly":
        rule["WKST"] = DAYS.get(str(pattern.get("firstDayOfWeek") or "sunday").lower(), "SU")
    if kind.startswith("absolute"):
        rule["BYMONTHDAY"] = int(pattern.get("dayOfMonth") or 1)
    if kind.startswith("relative") and kind != "relativeWeekly":
        rule["BYSETPOS"] = INDEX.get(str(pattern.get("index") or "first"), 1)
    if kind.endswith("Yearly"):
        rule["BYMONTH"] = int(pattern.get("month") or 1)
    if span.get("type") == "numbered":
        rule["COUNT"] = int(span.get("numberOfOccurrences") or 1)
    elif span.get("type") == "endDate" and span.get("endDate"):
        end = datetime.fromisoformat(str(span["endDate"])).replace(hour=23, minute=59, second=59)
        rule["UNTIL"] = end.replace(tzinfo=zone(zone_name) or UTC).astimezone(UTC)
    return rule


def _moment(value: dict[str, Any] | None, zone_name: str, all_day: bool) -> date | datetime | None:
    if all_day:
        text = str((value or {}).get("dateTime") or "")[:10]
        return date.fromisoformat(text) if text else None
    moment = parse_utc(value)
    if moment is None:
        return None
    local = zone(zone_name)
    return moment.astimezone(local) if local else moment


def _plain(content: str, content_type: str) -> str:
    """A body as plain text (nh3 with no tags allowed keeps only the text)."""
    if content_type.lower() != "html":
        return content.strip()
    return html.unescape(nh3.clean(content, tags=set())).strip()


def _vevent(entry: dict[str, Any], zone_name: str) -> icalendar.Event:
    event = icalendar.Event()
    event.add("uid", str(entry.get("iCalUId") or entry.get("id")))
    event.add("dtstamp", datetime.now(UTC))
    event.add("summary", str(entry.get("subject") or ""))
    all_day = bool(entry.get("isAllDay"))
    for name, key in (("dtstart", "start"), ("dtend", "end")):
        if (value := _moment(entry.get(key), zone_name, all_day)) is not None:
            event.add(name, value)
    body = entry.get("body") or {}
    if text := _plain(str(body.get("content") or ""), str(body.get("contentType") or "text")):
        event.add("description", text)
    if location := str((entry.get("location") or {}).get("displayName") or ""):
        event.add("location", location)
    organizer = (entry.get("organizer") or {}).get("emailAddress") or {}
    if organizer.get("address"):
        event.add(
            "organizer",
            f"mailto:{organizer['address']}",
            parameters={"CN": str(organizer.get("name") or "")},
        )
    for attendee in entry.get("attendees") or []:
        email = attendee.get("emailAddress") or {}
        if email.get("address"):
            role = "OPT-PARTICIPANT" if attendee.get("type") == "optional" else "REQ-PARTICIPANT"
            event.add(
                "attendee",
                f"mailto:{email['address']}",
                parameters={"CN": str(email.get("name") or ""), "ROLE": role},
            )
    if entry.get("categories"):
        event.add("categories", list(entry["categories"]))
    event.add("class", CLASS.get(str(entry.get("sensitivity") or ""), "PUBLIC"))
    event.add("priority", PRIORITY.get(str(entry.get("importance") or "normal"), 5))
    event.add("transp", "TRANSPARENT" if entry.get("showAs") == "free" else "OPAQUE")
    if entry.get("isReminderOn", True) and entry.get("reminderMinutesBeforeStart") is not None:
        alarm = icalendar.Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", "Reminder")
        alarm.add("trigger", timedelta(minutes=-int(entry["reminderMinutesBeforeStart"])))
        event.add_component(alarm)
    return event


def _series(saved: dict[str, Any], zone_name: str) -> list[icalendar.Event]:
    entry = saved["event"]
    master = _vevent(entry, zone_name)
    rule = rrule_of(entry["recurrence"], zone_name)
    master.add("rrule", rule)
    start = _moment(entry.get("start"), zone_name, bool(entry.get("isAllDay")))
    kept = {parse_utc({"dateTime": o}) for o in saved.get("occurrences") or []}
    if isinstance(start, datetime) and saved.get("window"):
        text = master["rrule"].to_ical()
        text = text.decode() if isinstance(text, bytes) else str(text)
        expanded = rrule.rrulestr(text, dtstart=start)
        end = parse_utc({"dateTime": saved["window"][1]}) or start
        cancelled = [
            o for o in expanded.between(start, end, inc=True) if o.astimezone(UTC) not in kept
        ]
        for moment in cancelled:
            master.add("exdate", moment)
    events = [master]
    for exception in saved.get("exceptions") or []:
        changed = _vevent({**entry, **exception, "iCalUId": entry.get("iCalUId")}, zone_name)
        original = parse_utc({"dateTime": exception.get("originalStart")})
        if original is not None:
            local = zone(zone_name)
            changed.add("recurrence-id", original.astimezone(local) if local else original)
        events.append(changed)
    return events


def ics(items: list[Item]) -> bytes:
    """One calendar holding every event of `items` (with their series' exceptions)."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Lifeboat//Backup export//EN")
    calendar.add("version", "2.0")
    for item in items:
        saved = document(item)
        entry = saved["event"]
        zone_name = str(entry.get("originalStartTimeZone") or "UTC")
        if zone(zone_name) is None:
            zone_name = "UTC"
        for event in (
            _series(saved, zone_name) if entry.get("recurrence") else [_vevent(entry, zone_name)]
        ):
            calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical()


# --- vCard -------------------------------------------------------------------------------


def _card(item: Item) -> str:
    data = document(item)
    card = vobject.vCard()
    card.add("fn").value = item.name or str(data.get("displayName") or "")
    card.add("n").value = vobject.vcard.Name(
        family=str(data.get("surname") or ""),
        given=str(data.get("givenName") or ""),
        additional=str(data.get("middleName") or ""),
    )
    for email in data.get("emailAddresses") or []:
        if email.get("address"):
            line = card.add("email")
            line.value, line.type_param = str(email["address"]), "INTERNET"
    phones = [("WORK", p) for p in data.get("businessPhones") or []] + [
        ("HOME", p) for p in data.get("homePhones") or []
    ]
    if data.get("mobilePhone"):
        phones.append(("CELL", data["mobilePhone"]))
    for kind, number in phones:
        line = card.add("tel")
        line.value, line.type_param = str(number), kind
    for kind, key in (
        ("WORK", "businessAddress"),
        ("HOME", "homeAddress"),
        ("OTHER", "otherAddress"),
    ):
        place = data.get(key) or {}
        if any(place.values()):
            line = card.add("adr")
            line.value = vobject.vcard.Address(
                street=str(place.get("street") or ""),
                city=str(place.get("city") or ""),
                region=str(place.get("state") or ""),
                code=str(place.get("postalCode") or ""),
                country=str(place.get("countryOrRegion") or ""),
            )
            line.type_param = kind
    if data.get("companyName") or data.get("department"):
        card.add("org").value = [
            str(data.get("companyName") or ""),
            *([str(data["department"])] if data.get("department") else []),
        ]
    if data.get("jobTitle"):
        card.add("title").value = str(data["jobTitle"])
    if data.get("personalNotes"):
        card.add("note").value = str(data["personalNotes"])
    if data.get("birthday"):
        card.add("bday").value = str(data["birthday"])[:10]
    if data.get("categories"):
        card.add("categories").value = [str(c) for c in data["categories"]]
    photo = (item.meta or {}).get("photo")
    if photo:
        with blob_store().open(str(photo["blob"])) as stream:
            content = stream.read()
        line = card.add("photo")
        line.value, line.encoding_param = content, "b"
        line.type_param = "PNG" if content.startswith(b"\x89PNG") else "JPEG"
    text: str = card.serialize()
    return text


def vcf(items: list[Item]) -> bytes:
    """Every contact of `items`, one vCard after another."""
    return "".join(_card(item) for item in items).encode()


# --- To Do ------------------------------------------------------------------------------

TODO_STATUS = {
    "notStarted": "NEEDS-ACTION",
    "inProgress": "IN-PROCESS",
    "completed": "COMPLETED",
    "waitingOnOthers": "NEEDS-ACTION",
    "deferred": "NEEDS-ACTION",
}


def _task_moment(value: dict[str, Any] | None) -> datetime | None:
    """A task's dateTimeTimeZone in its own zone (UTC when the zone is not known)."""
    moment = parse_utc(value)
    if moment is None:
        return None
    local = zone(str((value or {}).get("timeZone") or "UTC"))
    return moment.astimezone(local) if local else moment


def _vtodo(item: Item) -> icalendar.Todo:
    saved = document(item)
    task = saved.get("task") or {}
    todo = icalendar.Todo()
    todo.add("uid", f"{item.graph_id}@lifeboat")
    todo.add("dtstamp", datetime.now(UTC))
    todo.add("summary", str(task.get("title") or ""))
    body = task.get("body") or {}
    text = _plain(str(body.get("content") or ""), str(body.get("contentType") or "text"))
    steps = [
        f"[{'x' if c.get('isChecked') else ' '}] {c.get('displayName')}"
        for c in saved.get("checklistItems") or []
    ]
    if text or steps:
        todo.add("description", "\n".join([text, *steps]).strip())
    todo.add("status", TODO_STATUS.get(str(task.get("status") or ""), "NEEDS-ACTION"))
    todo.add("priority", PRIORITY.get(str(task.get("importance") or "normal"), 5))
    for name, key in (("dtstart", "startDateTime"), ("due", "dueDateTime"),
                      ("completed", "completedDateTime")):  # fmt: skip
        if (moment := _task_moment(task.get(key))) is not None:
            todo.add(name, moment.astimezone(UTC) if name == "completed" else moment)
    if task.get("categories"):
        todo.add("categories", list(task["categories"]))
    if task.get("recurrence"):
        due = task.get("dueDateTime") or {}
        todo.add("rrule", rrule_of(task["recurrence"], str(due.get("timeZone") or "UTC")))
    for resource in saved.get("linkedResources") or []:
        if resource.get("webUrl"):
            todo.add("url", str(resource["webUrl"]))
            break
    reminder = _task_moment(task.get("reminderDateTime"))
    if task.get("isReminderOn") and reminder is not None:
        alarm = icalendar.Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", "Reminder")
        alarm.add("trigger", reminder.astimezone(UTC))
        todo.add_component(alarm)
    return todo


def vtodo(items: list[Item]) -> bytes:
    """One calendar of VTODOs: every task of `items` (steps in the description)."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Lifeboat//Backup export//EN")
    calendar.add("version", "2.0")
    for item in items:
        calendar.add_component(_vtodo(item))
    calendar.add_missing_timezones()
    return calendar.to_ical()


def task_json(items: list[Item]) -> bytes:
    """The tasks as Graph gave them (with checklistItems, linkedResources and the
    attachments' names, types and sizes): one object for one task, a list for many."""
    documents = []
    for item in items:
        saved = document(item)
        attachments = [
            {k: a.get(k) for k in ("name", "contentType", "size")}
            for a in (item.meta or {}).get("attachments") or []
        ]
        documents.append(
            {
                **saved.get("task", {}),
                "checklistItems": saved.get("checklistItems", []),
                "linkedResources": saved.get("linkedResources", []),
                "attachments": attachments,
            }
        )
    shown = documents[0] if len(documents) == 1 else documents
    return (json.dumps(shown, indent=2, ensure_ascii=False) + "\n").encode()


EXPORTS = {
    "ics": Export(".ics", "text/calendar; charset=utf-8", ics),
    "vcf": Export(".vcf", "text/vcard; charset=utf-8", vcf),
    "vtodo": Export(".ics", "text/calendar; charset=utf-8", vtodo),
    "json": Export(".json", "application/json", task_json),
}
