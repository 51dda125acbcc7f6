"""Outlook calendars through Graph: calendars, events, recurrence, instances,
calendarView, attachments, extended properties — and the invitations Exchange sends.

What restores depend on, as Graph documents it (docs/sandbox.md, "Calendars"):
- `GET …/calendars/{id}/events` lists single instances and series masters, not
  occurrences; `GET …/events/{id}/instances?startDateTime&endDateTime` and
  `…/calendarView?startDateTime&endDateTime` expand a series (occurrences and
  exceptions, cancelled occurrences left out);
- an occurrence PATCHed becomes an exception, an occurrence DELETEd is cancelled;
- creating (or updating) an event with attendees sends them meeting requests, deleting
  an organised meeting sends cancellations: recorded as `Invitation` rows;
- start/end come back in UTC unless `Prefer: outlook.timezone="…"` asks otherwise, with
  `originalStartTimeZone` saying what was written;
- singleValueExtendedProperties are stored, expanded and filtered as on messages.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.http import HttpResponse
from django.utils import timezone

from sandbox.graph import errors, ids, odata, recurrence
from sandbox.graph.call import Call, json_response
from sandbox.graph.mail import expansions, property_key
from sandbox.graph.odata import Field
from sandbox.graph.text import preview
from sandbox.models import Calendar, DirectoryUser, Event, EventAttachment, Invitation, ItemProperty

MAX_SIMPLE_ATTACHMENT = 3 * 1024 * 1024
WRITABLE = {
    "subject", "body", "start", "end", "location", "locations", "attendees", "isAllDay",
    "recurrence", "reminderMinutesBeforeStart", "isReminderOn", "categories", "importance",
    "sensitivity", "showAs", "responseRequested", "allowNewTimeProposals", "isOnlineMeeting",
    "hideAttendees", "transactionId", "singleValueExtendedProperties", "attachments",
}  # fmt: skip
READ_ONLY = {
    "id", "createdDateTime", "lastModifiedDateTime", "changeKey", "iCalUId", "organizer",
    "type", "seriesMasterId", "originalStart", "originalStartTimeZone", "originalEndTimeZone",
    "isOrganizer", "isCancelled", "hasAttachments", "bodyPreview", "webLink", "@odata.etag",
    "@odata.type", "responseStatus", "onlineMeeting", "isDraft", "occurrenceId",
}  # fmt: skip
CHOICES = {
    "importance": {"low", "normal", "high"},
    "sensitivity": {"normal", "personal", "private", "confidential"},
    "showAs": {"free", "tentative", "busy", "oof", "workingElsewhere", "unknown"},
}
EVENT_FIELDS = {
    "id": Field("id"),
    "subject": Field("data__subject"),
    "icaluid": Field("ical_uid"),
    "type": Field("kind"),
    "lastmodifieddatetime": Field("modified_at", "datetime"),
    "createddatetime": Field("created_at", "datetime"),
    "start/datetime": Field("starts_at", "datetime"),
    "end/datetime": Field("ends_at", "datetime"),
}
OCCURRENCE = "_OCC_"  # occurrence ids: master id + this + original start (UTC)


# --- Calendars ---------------------------------------------------------------------------


def default_calendar(owner: DirectoryUser) -> Calendar:
    found = Calendar.objects.filter(owner=owner, is_default=True).first()
    if found is None:
        found = Calendar.objects.create(
            id=ids.folder_id(f"calendar:{owner.user_principal_name}"),
            owner=owner,
            name="Calendar",
            is_default=True,
            change_key=ids.change_key(),
        )
    return found


def calendar_for(call: Call) -> Calendar:
    if call.group_calendar is not None:  # /groups/{id}/…: the group's one calendar
        return call.group_calendar
    reference = call.params.get("calendar")
    if reference is None:
        return default_calendar(call.owner)
    found = Calendar.objects.filter(owner=call.owner, id=reference).first()
    if found is None:
        raise errors.not_found(errors.MAIL)
    return found


def organizer(calendar: Calendar) -> dict[str, str]:
    """Whose calendar it is, as Graph names it: the user, or the group."""
    if calendar.group is not None:
        return {"name": calendar.group.display_name, "address": calendar.group.mail}
    owner = calendar.owner
    return {"name": owner.display_name if owner else "", "address": owner.mail if owner else ""}


def calendar_json(calendar: Calendar) -> dict[str, Any]:
    return {
        "id": calendar.id,
        "name": calendar.name,
        "color": calendar.color,
        "isDefaultCalendar": calendar.is_default,
        "changeKey": calendar.change_key,
        "canEdit": True,
        "canShare": True,
        "canViewPrivateItems": True,
        "owner": organizer(calendar),
    }


def list_calendars(call: Call) -> HttpResponse:
    default_calendar(call.owner)
    rows = list(Calendar.objects.filter(owner=call.owner).order_by("-is_default", "name", "id"))
    top = odata.integer_option(call.request, "$top", 10, 1000)
    skip = odata.skip_of(call.request)
    page, link = odata.page(call.request, rows[skip : skip + top + 1], top=top, skip=skip)
    select = odata.selected(call.request)
    body: dict[str, Any] = {"value": [odata.apply_select(calendar_json(c), select) for c in page]}
    if link:
        body["@odata.nextLink"] = link
    return json_response(body)


def get_calendar(call: Call) -> HttpResponse:
    return json_response(
        odata.apply_select(calendar_json(calendar_for(call)), odata.selected(call.request))
    )


def create_calendar(call: Call) -> HttpResponse:
    name = str(call.json().get("name") or "").strip()
    if not name:
        raise errors.bad_request("The calendar name is required.", "ErrorInvalidParameter")
    if Calendar.objects.filter(owner=call.owner, name__iexact=name).exists():
        raise errors.GraphError(
            409, "ErrorFolderExists", "A folder with the specified name already exists."
        )
    calendar = Calendar.objects.create(
        id=ids.folder_id(), owner=call.owner, name=name, change_key=ids.change_key()
    )
    return json_response(calendar_json(calendar), status=201)


# --- Validating what a client writes -------------------------------------------------------


def _address(value: Any) -> str:
    return str(((value or {}).get("emailAddress") or {}).get("address") or "").strip()


def _clean(data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    unknown = [k for k in data if k not in WRITABLE and k not in READ_ONLY]
    if unknown:
        raise errors.bad_request(
            f"Invalid property '{unknown[0]}' in the request.", "RequestBodyRead"
        )
    clean = {k: v for k, v in data.items() if k in WRITABLE}
    if creating:
        for name in ("start", "end"):
            if name not in clean:
                raise errors.bad_request(
                    f"The property '{name}' is required.", "ErrorInvalidRequest"
                )
    for name, allowed in CHOICES.items():
        if name in clean and clean[name] not in allowed:
            raise errors.bad_request(
                f"Cannot convert the literal '{clean[name]}' to the expected type "
                f"'microsoft.graph.{name}'.",
                "RequestBodyRead",
            )
    for attendee in clean.get("attendees") or []:
        if "@" not in _address(attendee):
            raise errors.bad_request(
                "At least one recipient isn't valid.", "ErrorInvalidRecipients"
            )
    if "recurrence" in clean and clean["recurrence"] is not None:
        recurrence.validate(clean["recurrence"])
    return clean


def _times(data: dict[str, Any]) -> tuple[datetime, datetime]:
    start = recurrence.parse_local(data["start"], "start")
    end = recurrence.parse_local(data["end"], "end")
    if end < start:
        raise errors.bad_request(
            "The end time must not be before the start time.", "ErrorInvalidRequest"
        )
    if data.get("isAllDay") and (
        start.time() != datetime.min.time() or end.time() != datetime.min.time() or end == start
    ):
        raise errors.bad_request(
            "An all-day event's start and end must be midnight, at least one day apart.",
            "ErrorInvalidRequest",
        )
    return start.astimezone(UTC), end.astimezone(UTC)


def _properties(event: Event, values: Any) -> None:
    for prop in values or []:
        property_id = str(prop.get("id") or "")
        if not property_id:
            raise errors.bad_request("An extended property needs an id.")
        ItemProperty.objects.update_or_create(
            event=event,
            key=property_key(property_id),
            defaults={"property_id": property_id, "value": str(prop.get("value") or "")[:1000]},
        )


def _invite(event: Event, attendees: list[Any], kind: str = "request") -> None:
    """Exchange sends organised meetings' requests and cancellations: recorded, not sent."""
    own = (organizer(event.calendar)["address"] or "").lower()
    for attendee in attendees:
        address = _address(attendee)
        if address and address.lower() != own:
            Invitation.objects.create(
                organizer=event.owner,
                event_id=event.id,
                recipient=address,
                subject=str(event.data.get("subject") or ""),
                kind=kind,
            )


def new_event(
    owner: DirectoryUser | None,
    calendar: Calendar,
    data: dict[str, Any],
    *,
    event_id: str | None = None,
    ical_uid: str | None = None,
    now: datetime | None = None,
    invite: bool = True,
) -> Event:
    """Create an event (the POST handler and the seed), inviting its attendees (not when
    seeding: seeded meetings were sent long ago)."""
    clean = _clean(data, creating=True)
    properties = clean.pop("singleValueExtendedProperties", None)
    attachments = clean.pop("attachments", None) or []
    clean.pop("transactionId", None)
    starts, ends = _times(clean)
    moment = now or timezone.now()
    event = Event.objects.create(
        id=event_id or ids.message_id(),
        owner=owner,
        calendar=calendar,
        kind=Event.Kind.MASTER if clean.get("recurrence") else Event.Kind.SINGLE,
        starts_at=starts,
        ends_at=ends,
        data=clean,
        ical_uid=ical_uid or "040000008200E00074C5B7101A82E008" + uuid.uuid4().hex.upper(),
        change_key=ids.change_key(),
        created_at=moment,
        modified_at=moment,
    )
    _properties(event, properties)
    for attachment in attachments:
        _add_attachment(event, attachment)
    if invite:
        _invite(event, clean.get("attendees") or [])
    return event


def _add_attachment(event: Event, data: dict[str, Any]) -> EventAttachment:
    if (
        data.get("@odata.type", "#microsoft.graph.fileAttachment")
        != "#microsoft.graph.fileAttachment"
    ):
        raise errors.bad_request("Only file attachments are supported by the sandbox.")
    try:
        content = base64.b64decode(str(data.get("contentBytes") or ""), validate=True)
    except (binascii.Error, ValueError):
        raise errors.bad_request("contentBytes is not base64.") from None
    if len(content) > MAX_SIMPLE_ATTACHMENT:
        raise errors.GraphError(
            413,
            "ErrorRequestEntityTooLarge",
            "The attachment is larger than 3 MB; use an upload session.",
        )
    return EventAttachment.objects.create(
        id=ids.attachment_id(),
        event=event,
        name=str(data.get("name") or "attachment")[:255],
        content_type=str(data.get("contentType") or "application/octet-stream"),
        size=len(content),
        is_inline=bool(data.get("isInline")),
        data=content,
    )


# --- Serialising -------------------------------------------------------------------------


def _prefer_zone(call: Call) -> str:
    match = re.search(r'outlook\.timezone="([^"]+)"', call.request.headers.get("Prefer", ""))
    if match:
        recurrence.zone(match.group(1))
        return match.group(1)
    return "UTC"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S")


def _unstamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)


def event_json(
    event: Event,
    call: Call | None,
    *,
    occurrence: datetime | None = None,
    select: list[str] | None = None,
) -> dict[str, Any]:
    """An event as Graph answers; `occurrence` (an original start) makes it an occurrence
    of the master `event`."""
    data = event.data
    zone = _prefer_zone(call) if call else "UTC"
    starts, ends = event.starts_at, event.ends_at
    kind, event_id, master_id = event.kind, event.id, None
    if occurrence is not None:
        ends = occurrence + (event.ends_at - event.starts_at)
        starts, kind = occurrence, "occurrence"
        event_id, master_id = f"{event.id}{OCCURRENCE}{_stamp(occurrence)}", event.id
    elif event.kind == Event.Kind.EXCEPTION and event.master_id:
        master_id = event.master_id
    all_day = bool(data.get("isAllDay"))
    start_zone = str((data.get("start") or {}).get("timeZone") or "UTC")
    end_zone = str((data.get("end") or {}).get("timeZone") or start_zone)
    shown = start_zone if all_day else zone
    body = data.get("body") or {"contentType": "text", "content": ""}
    item: dict[str, Any] = {
        "@odata.etag": f'W/"{event.change_key}"',
        "id": event_id,
        "createdDateTime": event.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "lastModifiedDateTime": event.modified_at.astimezone(UTC)
        .isoformat()
        .replace("+00:00", "Z"),
        "changeKey": event.change_key,
        "categories": data.get("categories") or [],
        "originalStartTimeZone": start_zone,
        "originalEndTimeZone": end_zone,
        "iCalUId": event.ical_uid,
        "reminderMinutesBeforeStart": data.get("reminderMinutesBeforeStart", 15),
        "isReminderOn": data.get("isReminderOn", True),
        "hasAttachments": event.attachments.exists() if occurrence is None else False,
        "subject": data.get("subject", ""),
        "bodyPreview": preview(
            str(body.get("content") or ""), str(body.get("contentType") or "text")
        ),
        "importance": data.get("importance", "normal"),
        "sensitivity": data.get("sensitivity", "normal"),
        "isAllDay": all_day,
        "isCancelled": False,
        "isOrganizer": True,
        "responseRequested": data.get("responseRequested", True),
        "seriesMasterId": master_id,
        "showAs": data.get("showAs", "busy"),
        "type": kind,
        "body": body,
        "start": recurrence.to_graph(starts, shown),
        "end": recurrence.to_graph(ends, shown),
        "location": data.get("location") or {"displayName": ""},
        "locations": data.get("locations") or [],
        "recurrence": data.get("recurrence")
        if event.kind == Event.Kind.MASTER and occurrence is None
        else None,
        "attendees": [
            {**a, "status": {"response": "none", "time": "0001-01-01T00:00:00Z"}}
            for a in data.get("attendees") or []
        ],
        "organizer": {"emailAddress": organizer(event.calendar)},
    }
    if master_id:
        original = occurrence or event.original_start
        item["originalStart"] = (
            original.astimezone(UTC).isoformat().replace("+00:00", "Z") if original else None
        )
    item = odata.apply_select(item, select)  # what $expand adds comes back anyway
    if call is not None:
        expand = expansions(call)
        if "singlevalueextendedproperties" in expand:
            wanted = expand["singlevalueextendedproperties"]
            props = event.properties.all() if occurrence is None else []
            item["singleValueExtendedProperties"] = [
                {"id": p.property_id, "value": p.value}
                for p in props
                if wanted is None or p.key in wanted
            ]
        if "attachments" in expand:
            rows = event.attachments.all() if occurrence is None else []
            item["attachments"] = [attachment_json(a, with_content=False) for a in rows]
    return item


def attachment_json(attachment: EventAttachment, *, with_content: bool = True) -> dict[str, Any]:
    item: dict[str, Any] = {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "id": attachment.id,
        "lastModifiedDateTime": attachment.modified_at.astimezone(UTC)
        .isoformat()
        .replace("+00:00", "Z"),
        "name": attachment.name,
        "contentType": attachment.content_type,
        "size": attachment.size,
        "isInline": attachment.is_inline,
    }
    if with_content:
        item["contentBytes"] = base64.b64encode(bytes(attachment.data)).decode("ascii")
    return item


# --- Expansion ---------------------------------------------------------------------------


def _window(call: Call) -> tuple[datetime, datetime]:
    try:
        start = odata.parse_datetime(call.query["startDateTime"])
        end = odata.parse_datetime(call.query["endDateTime"])
    except KeyError:
        raise errors.bad_request(
            "This request requires a time window specified by the query string parameters "
            "StartDateTime and EndDateTime.",
            "ErrorInvalidParameter",
        ) from None
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    return start, end


def instances_of(
    master: Event, start: datetime, end: datetime
) -> list[tuple[Event, datetime | None]]:
    """(event, occurrence start or None for an exception) in the window, by start."""
    first = recurrence.parse_local(master.data["start"], "start")
    duration = master.ends_at - master.starts_at
    cancelled = set(master.cancelled)
    exceptions = {
        e.original_start: e for e in Event.objects.filter(master=master) if e.original_start
    }
    found: list[tuple[Event, datetime | None]] = []
    for original in recurrence.occurrences(master.data["recurrence"], first, start, end):
        if _stamp(original) in cancelled:
            continue
        exception = exceptions.get(original)
        if exception is not None:
            if exception.starts_at < end and exception.ends_at > start:
                found.append((exception, None))
        elif original < end and original + duration > start:
            found.append((master, original))
    return found


def _occurrence_starts(master: Event) -> set[datetime]:
    first = recurrence.parse_local(master.data["start"], "start")
    far = max(master.starts_at, timezone.now()) + timedelta(days=3660)
    return set(
        recurrence.occurrences(
            master.data["recurrence"], first, master.starts_at - timedelta(days=1), far
        )
    )


def _page(call: Call, items: list[dict[str, Any]]) -> HttpResponse:
    top = odata.integer_option(call.request, "$top", 10, 1000)
    skip = odata.skip_of(call.request)
    page, link = odata.page(call.request, items[skip : skip + top + 1], top=top, skip=skip)
    body: dict[str, Any] = {"value": page}
    if link:
        body["@odata.nextLink"] = link
    return json_response(body)


def instances(call: Call) -> HttpResponse:
    master = _event_for(call)
    if isinstance(master, tuple) or master.kind != Event.Kind.MASTER:
        return _page(call, [])
    start, end = _window(call)
    select = odata.selected(call.request)
    return _page(
        call,
        [
            event_json(e, call, occurrence=o, select=select)
            for e, o in instances_of(master, start, end)
        ],
    )


def calendar_view(call: Call) -> HttpResponse:
    calendar = calendar_for(call)
    start, end = _window(call)
    select = odata.selected(call.request)
    found: list[tuple[datetime, dict[str, Any]]] = []
    singles = Event.objects.filter(
        calendar=calendar, kind=Event.Kind.SINGLE, starts_at__lt=end, ends_at__gt=start
    )
    for event in singles:
        found.append((event.starts_at, event_json(event, call, select=select)))
    for master in Event.objects.filter(calendar=calendar, kind=Event.Kind.MASTER):
        for event, occurrence in instances_of(master, start, end):
            found.append(
                (
                    occurrence or event.starts_at,
                    event_json(event, call, occurrence=occurrence, select=select),
                )
            )
    found.sort(key=lambda pair: (pair[0], pair[1]["id"]))
    return _page(call, [item for _, item in found])


# --- Events ------------------------------------------------------------------------------


def _extended_any(collection: str, variable: str, body: Any) -> Q:
    if collection.lower() != "singlevalueextendedproperties":
        raise errors.bad_request(f"Invalid filter clause: '{collection}' is not a collection.")
    conditions: dict[str, str] = {}

    def collect(node: Any) -> None:
        if isinstance(node, tuple) and node[0] == "and":
            collect(node[1])
            collect(node[2])
            return
        if isinstance(node, tuple) and node[0] == "cmp" and node[1] == "eq":
            name, literal = node[2], node[3]
            if isinstance(name, odata.Name) and isinstance(literal, odata.Literal):
                conditions[name.path.lower().removeprefix(variable.lower() + "/")] = str(
                    literal.value
                )
                return
        raise errors.bad_request("Invalid filter clause: use ep/id eq '...' and ep/value eq '...'.")

    collect(body)
    if "id" not in conditions:
        raise errors.bad_request("Invalid filter clause: the lambda must compare ep/id.")
    matching = ItemProperty.objects.filter(event=OuterRef("pk"), key=property_key(conditions["id"]))
    if "value" in conditions:
        matching = matching.filter(value=conditions["value"])
    return Q(Exists(matching))


def list_events(call: Call) -> HttpResponse:
    # /events and /calendar/events: the default calendar; /calendars/{id}/events: that one.
    rows = Event.objects.filter(calendar=calendar_for(call)).exclude(kind=Event.Kind.EXCEPTION)
    rows = rows.filter(odata.filter_q(call.request, EVENT_FIELDS, _extended_any))
    rows = rows.order_by(*odata.order_by(call.request, EVENT_FIELDS, ["starts_at", "id"]))
    top = odata.integer_option(call.request, "$top", 10, 1000)
    skip = odata.skip_of(call.request)
    page, link = odata.page(call.request, list(rows[skip : skip + top + 1]), top=top, skip=skip)
    select = odata.selected(call.request)
    body: dict[str, Any] = {"value": [event_json(e, call, select=select) for e in page]}
    if link:
        body["@odata.nextLink"] = link
    return json_response(body)


def _events(call: Call) -> Any:
    """The events the path reaches: the group calendar's, or the mailbox owner's."""
    if call.group_calendar is not None:
        return Event.objects.filter(calendar=call.group_calendar)
    return Event.objects.filter(owner=call.owner)


def _event_for(call: Call) -> Event | tuple[Event, datetime]:
    """The event addressed, or (master, original start) for an occurrence."""
    reference = call.params["event"]
    master_id, marker, stamp = reference.partition(OCCURRENCE)
    if marker:
        master = _events(call).filter(id=master_id, kind=Event.Kind.MASTER).first()
        try:
            original = _unstamp(stamp)
        except ValueError:
            raise errors.not_found(errors.MAIL) from None
        if (
            master is None
            or original not in _occurrence_starts(master)
            or stamp in master.cancelled
        ):
            raise errors.not_found(errors.MAIL)
        exception = Event.objects.filter(master=master, original_start=original).first()
        return exception if exception is not None else (master, original)
    event = _events(call).filter(id=reference).first()
    if event is None:
        raise errors.not_found(errors.MAIL)
    if "calendar" in call.params and event.calendar_id != calendar_for(call).id:
        raise errors.not_found(errors.MAIL)
    return event


def get_event(call: Call) -> HttpResponse:
    found = _event_for(call)
    select = odata.selected(call.request)
    if isinstance(found, tuple):
        return json_response(event_json(found[0], call, occurrence=found[1], select=select))
    return json_response(event_json(found, call, select=select))


@transaction.atomic
def create_event(call: Call) -> HttpResponse:
    owner = None if call.group_calendar is not None else call.owner
    event = new_event(owner, calendar_for(call), call.json())
    return json_response(event_json(event, call), status=201)


def _touch(event: Event) -> None:
    event.change_key = ids.change_key()
    event.modified_at = timezone.now()


@transaction.atomic
def update_event(call: Call) -> HttpResponse:
    found = _event_for(call)
    data = _clean(call.json(), creating=False)
    if "recurrence" in data and not isinstance(found, tuple) and found.kind == Event.Kind.EXCEPTION:
        raise errors.bad_request("An occurrence's recurrence cannot be set.", "ErrorInvalidRequest")
    properties = data.pop("singleValueExtendedProperties", None)
    data.pop("attachments", None)
    data.pop("transactionId", None)
    if isinstance(found, tuple):  # an occurrence becomes an exception
        master, original = found
        base = {k: v for k, v in master.data.items() if k != "recurrence"}
        duration = master.ends_at - master.starts_at
        zone_name = str(master.data["start"].get("timeZone") or "UTC")
        base["start"] = recurrence.to_graph(original, zone_name)
        base["end"] = recurrence.to_graph(original + duration, zone_name)
        event = Event(
            id=ids.message_id(),
            owner=master.owner,
            calendar=master.calendar,
            kind=Event.Kind.EXCEPTION,
            master=master,
            original_start=original,
            data=base,
            ical_uid=master.ical_uid,
        )
        before: list[Any] = master.data.get("attendees") or []
    else:
        event = found
        before = event.data.get("attendees") or []
    merged = {**event.data, **data}
    if "recurrence" in data and data["recurrence"] is None:
        merged.pop("recurrence", None)
    event.starts_at, event.ends_at = _times(merged)
    event.data = merged
    if event.kind != Event.Kind.EXCEPTION:
        event.kind = Event.Kind.MASTER if merged.get("recurrence") else Event.Kind.SINGLE
    _touch(event)
    event.save()
    if event.master is not None:  # an exception is part of its master's item in Exchange
        _touch(event.master)
        event.master.save(update_fields=["change_key", "modified_at"])
    _properties(event, properties)
    old = {_address(a).lower() for a in before}
    if "attendees" in data:
        _invite(event, [a for a in data["attendees"] if _address(a).lower() not in old])
    if {"start", "end", "location", "subject"} & set(data) and merged.get("attendees"):
        _invite(event, [a for a in merged["attendees"] if _address(a).lower() in old], "update")
    return json_response(event_json(event, call))


@transaction.atomic
def delete_event(call: Call) -> HttpResponse:
    found = _event_for(call)
    if isinstance(found, tuple):
        master, original = found
        master.cancelled = [*master.cancelled, _stamp(original)]
        _touch(master)
        master.save(update_fields=["cancelled", "change_key", "modified_at"])
        _invite(master, master.data.get("attendees") or [], "cancellation")
        return HttpResponse(status=204)
    event = found
    if event.kind == Event.Kind.EXCEPTION and event.master is not None:
        master = event.master
        master.cancelled = [*master.cancelled, _stamp(event.original_start or event.starts_at)]
        _touch(master)
        master.save(update_fields=["cancelled", "change_key", "modified_at"])
    _invite(event, event.data.get("attendees") or [], "cancellation")
    event.delete()
    return HttpResponse(status=204)


# --- Attachments -------------------------------------------------------------------------


def _own_event(call: Call) -> Event:
    found = _event_for(call)
    if isinstance(found, tuple):
        raise errors.bad_request("An occurrence has no attachments of its own.")
    return found


def list_attachments(call: Call) -> HttpResponse:
    event = _own_event(call)
    select = odata.selected(call.request)
    with_content = select is None or "contentbytes" in {s.lower() for s in select}
    rows = event.attachments.order_by("name", "id")
    return json_response(
        {
            "value": [
                odata.apply_select(attachment_json(a, with_content=with_content), select)
                for a in rows
            ]
        }
    )


@transaction.atomic
def add_attachment(call: Call) -> HttpResponse:
    event = _own_event(call)
    attachment = _add_attachment(event, call.json())
    _touch(event)
    event.save(update_fields=["change_key", "modified_at"])
    return json_response(attachment_json(attachment), status=201)


def attachment_content(call: Call) -> HttpResponse:
    event = _own_event(call)
    attachment = event.attachments.filter(id=call.params["attachment"]).first()
    if attachment is None:
        raise errors.not_found(errors.MAIL)
    return HttpResponse(bytes(attachment.data), content_type=attachment.content_type)


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
