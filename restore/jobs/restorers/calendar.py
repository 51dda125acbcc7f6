"""Restoring events into an Outlook calendar through Graph, as the person.

No one is invited again. Graph sends meeting requests to the attendees of an event
created with `attendees` (and cancellations when one is deleted), and has no switch to
stop it; so, as Corso does, a restored event carries no attendees: they are written at
the end of its body ("Attendees when it was backed up: …"), and the person restoring
becomes its organiser. The restore page says so.

An event is `POST …/calendars/{id}/events` with what the backup read (subject, body,
start/end in the time zone they were written in, location, categories, importance,
sensitivity, showAs, reminder, recurrence) and two single-value extended properties:
the restore marker (`LifeboatRestoreMarker` = "<job>:<item>", as mail's) and the
original event's iCalUId (`LifeboatOriginalICalUId`), which later restores compare.

A series is put back in steps, so it ends with the same occurrences as the backup:
the master (marked `…:incomplete`, as is an event with attachments until they are
added; any other event is whole in its one create), then its instances over the backed-up window are
listed and matched by `originalStart` — each backed-up exception PATCHed onto its
occurrence, each occurrence the backup did not have (cancelled) DELETEd — then its
attachments, then the marker completed. A retry deletes an incomplete one and starts
again; `find_restored` only finds complete ones.

A group's calendar (entity "group") is `/groups/{id}/calendar`: one calendar, events
posted to `/groups/{id}/calendar/events` as the person restoring, so Graph itself decides
that only the group's members and owners may (a non-member's restore is refused, and the
job log says so); a group has no other calendars, so its events go back into it.

Collisions: "skip" skips an event when the target calendar holds one with the original's
iCalUId (the original itself, or an event another tool restored with it) or with the
same `LifeboatOriginalICalUId` (an earlier Lifeboat restore); "keep both" adds it anyway.
"""

from __future__ import annotations

import base64
import html
import threading
from typing import Any
from urllib.parse import quote

from portal.graph import GraphClient, GraphError
from restore.blobs import blob_store
from restore.catalog.events import document, in_zone, parse_utc, zone
from restore.jobs import faults
from restore.jobs.restorers import (
    Action,
    Outcome,
    Step,
    Verdict,
    collision_step,
    marker_value,
    upload_attachment,
)
from restore.jobs.restorers.mail import INCOMPLETE, MARKER_GUID, MARKER_PROPERTY
from restore.models import Folder, Item, RestoreJob, RestoreJobItem, valid_at

# The same marker property as mail's: one named property for every Outlook item.
ORIGIN_PROPERTY = f"String {{{MARKER_GUID}}} Name LifeboatOriginalICalUId"
MAX_INLINE = 3 * 1024 * 1024  # what one POST …/attachments takes
MAX_ATTACHMENT = 150 * 1024 * 1024  # by an attachment upload session (3 MB to 150 MB)
MAX_EXCEPTIONS = 200  # changed occurrences one item may patch (Outlook's throttling)
NO_CONTENT = "The backup holds no content for this event."
ALREADY_THERE = "The event is already in that calendar."
COPIED = (
    "subject", "body", "location", "locations", "categories", "importance", "sensitivity",
    "showAs", "reminderMinutesBeforeStart", "isReminderOn", "isAllDay", "responseRequested",
)  # fmt: skip
EXCEPTION_FIELDS = (
    "subject",
    "body",
    "location",
    "categories",
    "importance",
    "sensitivity",
    "showAs",
)
VERIFY_SELECT = (
    "subject,start,end,isAllDay,categories,importance,sensitivity,showAs,"
    "reminderMinutesBeforeStart,isReminderOn,attendees,recurrence,type"
)


class Refused(Exception):
    """An event Lifeboat cannot put back as it was; `str()` says why, for the job log."""


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _any(property_id: str, value: str) -> str:
    return (
        f"singleValueExtendedProperties/any(ep: ep/id eq {_quote(property_id)}"
        f" and ep/value eq {_quote(value)})"
    )


def attendee_note(attendees: list[dict[str, Any]], content_type: str) -> str:
    """The attendees, written into the body instead of invited."""
    people = []
    for attendee in attendees:
        email = attendee.get("emailAddress") or {}
        name, address = str(email.get("name") or ""), str(email.get("address") or "")
        who = f"{name} <{address}>" if name and address and name != address else name or address
        people.append(f"{who} ({attendee.get('type') or 'required'})")
    if not people:
        return ""
    text = "Attendees when it was backed up (not invited by this restore): " + "; ".join(people)
    return f"<p>{html.escape(text)}</p>" if content_type == "html" else f"\n\n{text}"


class CalendarRestorer:
    def __init__(self, job: RestoreJob, graph: GraphClient) -> None:
        self.job = job
        self.graph = graph
        self.is_group = job.object.entity == "group"
        self.user = f"{'groups' if self.is_group else 'users'}/{job.object.owner_id}"
        # Outlook throttles per mailbox: calendar and mail restores of one share its slots.
        self.throttle_key = f"mail:{job.object.tenant_id}:{job.object.owner_id}"
        self._targets: dict[str, str | None] = {}
        self._created: set[str] = set()
        self._lock = threading.Lock()
        self.calendars = {
            f.graph_id: f
            for f in Folder.objects.filter(valid_at(job.restore_point.seq), object=job.object)
        }

    # --- where it goes ------------------------------------------------------------------

    def _named(self, name: str, *, create: bool) -> str | None:
        for calendar in self.graph.iterate(
            f"{self.user}/calendars", **{"$select": "id,name", "$top": "100"}
        ):
            if str(calendar.get("name", "")).casefold() == name.casefold():
                return str(calendar["id"])
        if not create:
            return None
        try:
            made = str(self.graph.post(f"{self.user}/calendars", {"name": name})["id"])
        except GraphError as error:
            if error.status != 409:
                raise
            return self._named(name, create=False)
        self._created.add(made)
        return made

    def _target(self, folder: Folder, *, create: bool = True) -> str | None:
        """The calendar `folder`'s events go to (made if missing; None in a dry run)."""
        with self._lock:
            key = folder.graph_id if self.job.target == RestoreJob.Target.ORIGINAL else ""
            if key in self._targets:
                return self._targets[key]
            target: str | None
            if self.job.target != RestoreJob.Target.ORIGINAL and not self.is_group:
                # (a group's restore is always into its one calendar: lifecycle refuses
                # a new calendar for it)
                target = self._named(self.job.target_name, create=create)
            elif folder.well_known == "calendar" or self.is_group:
                target = str(self.graph.get(f"{self.user}/calendar", **{"$select": "id"})["id"])
            else:
                try:
                    target = str(
                        self.graph.get(
                            f"{self.user}/calendars/{folder.graph_id}", **{"$select": "id"}
                        )["id"]
                    )
                except GraphError as error:
                    if not error.is_not_found:
                        raise
                    target = self._named(folder.name, create=create)
            self._targets[key] = target
            return target

    # --- what goes ----------------------------------------------------------------------

    def _event_json(self, item: Item, saved: dict[str, Any], marker: str) -> dict[str, Any]:
        entry = saved["event"]
        zone_name = str(entry.get("originalStartTimeZone") or "UTC")
        if zone(zone_name) is None:
            raise Refused(
                f"Its time zone “{zone_name}” has no IANA equivalent, so its local times "
                "cannot be worked out; restore it as a download (.ics) instead."
            )
        data: dict[str, Any] = {k: entry[k] for k in COPIED if entry.get(k) is not None}
        for name in ("start", "end"):
            value = entry.get(name) or {}
            if entry.get("isAllDay") and str(value.get("timeZone")) == zone_name:
                data[name] = {"dateTime": str(value["dateTime"])[:19], "timeZone": zone_name}
            else:
                local = in_zone(value, zone_name)
                if local is None:
                    raise Refused(f"Its {name} time “{value.get('dateTime')}” cannot be read.")
                data[name] = local
        if entry.get("recurrence"):
            data["recurrence"] = entry["recurrence"]
        body = dict(data.get("body") or {"contentType": "text", "content": ""})
        note = attendee_note(entry.get("attendees") or [], str(body.get("contentType") or "text"))
        body["content"] = str(body.get("content") or "") + note
        data["body"] = body
        data["singleValueExtendedProperties"] = [
            {"id": MARKER_PROPERTY, "value": marker},
            {"id": ORIGIN_PROPERTY, "value": str(entry.get("iCalUId") or item.graph_id)},
        ]
        return data

    def _check(self, item: Item, saved: dict[str, Any]) -> None:
        if len(saved.get("exceptions") or []) > MAX_EXCEPTIONS:
            raise Refused(
                f"The series has {len(saved['exceptions'])} changed occurrences; Lifeboat puts "
                f"back series with up to {MAX_EXCEPTIONS}. Restore it as a download (.ics) instead."
            )
        for attachment in (item.meta or {}).get("attachments") or []:
            if int(attachment.get("size") or 0) > MAX_ATTACHMENT:
                size = int(attachment["size"]) / 1024 / 1024
                raise Refused(
                    f"Its attachment “{attachment.get('name')}” ({size:.1f} MB) is over the 150 MB "
                    "Graph takes for an event attachment; restore it as a download instead."
                )

    # --- markers ------------------------------------------------------------------------

    def _events(self, calendar_id: str) -> str:
        """Where a calendar's events are listed and created."""
        if self.is_group:
            return f"{self.user}/calendar/events"
        return f"{self.user}/calendars/{calendar_id}/events"

    def _lookup(self, calendar_id: str | None, condition: str) -> str:
        where = self._events(calendar_id) if calendar_id else f"{self.user}/events"
        return f"/{where}?$filter={quote(condition)}&$select=id&$top=1"

    def find_restored(self, job_items: list[RestoreJobItem]) -> dict[int, str]:
        urls = {}
        for job_item in job_items:
            target = self._target(job_item.item.folder, create=False)
            if target is not None:
                urls[str(job_item.pk)] = self._lookup(
                    target, _any(MARKER_PROPERTY, marker_value(job_item))
                )
        found: dict[int, str] = {}
        for key, (status, body) in self.graph.get_many(urls).items():
            if status == 200 and (body or {}).get("value"):
                found[int(key)] = str(body["value"][0]["id"])
            elif status >= 400:
                error = (body or {}).get("error", {})
                raise GraphError(status, str(error.get("code", "")), str(error.get("message")))
        return found

    def _delete_incomplete(self, calendar_id: str, job_item: RestoreJobItem) -> None:
        condition = _any(MARKER_PROPERTY, marker_value(job_item) + INCOMPLETE)
        for event in self.graph.iterate(
            self._events(calendar_id), **{"$filter": condition, "$select": "id"}
        ):
            self.graph.delete(f"{self.user}/events/{event['id']}")

    def _existing_urls(self, calendar_id: str, entry: dict[str, Any], key: str) -> dict[str, str]:
        uid = str(entry.get("iCalUId") or "")
        if not uid:
            return {}
        return {
            f"{key}u": self._lookup(calendar_id, f"iCalUId eq {_quote(uid)}"),
            f"{key}o": self._lookup(calendar_id, _any(ORIGIN_PROPERTY, uid)),
        }

    def _existing(self, calendar_id: str, entry: dict[str, Any]) -> str | None:
        answers = self.graph.get_many(self._existing_urls(calendar_id, entry, "x"))
        for status, body in answers.values():
            if status == 200 and (body or {}).get("value"):
                return str(body["value"][0]["id"])
        return None

    def _step(self, existing: str | None) -> Step:
        """What the collision policy makes of an item already there (or not)."""
        return collision_step(
            self.job,
            existing,
            ALREADY_THERE,
            "The event is already in that calendar; a second one is added.",
        )

    # --- restoring ----------------------------------------------------------------------

    def restore(self, job_item: RestoreJobItem) -> Outcome:
        item = job_item.item
        if not item.content_sha256:
            return Outcome.failed(NO_CONTENT)
        saved = document(item)
        marker = marker_value(job_item)
        try:
            self._check(item, saved)
            data = self._event_json(item, saved, marker)
        except Refused as why:
            return Outcome.failed(str(why))
        calendar_id = self._target(item.folder)
        if calendar_id is None:
            raise RuntimeError("The target calendar was not made.")
        if self.job.collision == RestoreJob.Collision.SKIP and calendar_id not in self._created:
            existing = self._existing(calendar_id, saved["event"])
            if existing is not None:
                return Outcome.skipped(ALREADY_THERE, existing)
        # An event with nothing to add after its create appears whole or not at all; a
        # series or one with attachments is marked incomplete until it is finished.
        whole = not saved["event"].get("recurrence") and not (item.meta or {}).get("attachments")
        if job_item.attempts > 1:
            self._delete_incomplete(calendar_id, job_item)
        if not whole:
            data["singleValueExtendedProperties"][0]["value"] = marker + INCOMPLETE
        try:
            created = self.graph.post(self._events(calendar_id), data)
        except GraphError as error:
            if error.status == 400:
                return Outcome.failed(
                    f"Microsoft 365 refused the event ({error.code}): {error.message}"[:480]
                )
            raise
        event_id = str(created["id"])
        try:
            problem = (
                self._finish_series(event_id, saved) if saved["event"].get("recurrence") else ""
            )
            if not problem:
                for attachment in (item.meta or {}).get("attachments") or []:
                    self._attach(event_id, attachment)
        except GraphError as error:
            if faults.is_transient(error):
                raise  # waited out by the runner; the next try deletes this one
            problem = f"Microsoft 365 answered {error.status} {error.code}: {error.message}"
        if problem:
            self.graph.delete(f"{self.user}/events/{event_id}")
            return Outcome.failed(f"{problem} The event was not restored."[:500])
        if whole:
            return Outcome.done(event_id)
        self.graph.patch(
            f"{self.user}/events/{event_id}",
            {"singleValueExtendedProperties": [{"id": MARKER_PROPERTY, "value": marker}]},
        )
        return Outcome.done(event_id)

    def _instances(self, event_id: str, window: list[str]) -> list[dict[str, Any]]:
        start, end = window
        return list(
            self.graph.iterate(
                f"{self.user}/events/{event_id}/instances",
                **{
                    "startDateTime": start,
                    "endDateTime": end,
                    "$select": "id,originalStart,type,start,end",
                    "$top": "200",
                },
            )
        )

    def _finish_series(self, event_id: str, saved: dict[str, Any]) -> str:
        """Patch the exceptions and delete the cancelled occurrences of a new series; ""
        or what went wrong."""
        window = saved.get("window") or []
        if len(window) != 2:
            return ""
        kept = {parse_utc({"dateTime": o}) for o in saved.get("occurrences") or []}
        exceptions = {
            parse_utc({"dateTime": e.get("originalStart")}): e
            for e in saved.get("exceptions") or []
        }
        zone_name = str(saved["event"].get("originalStartTimeZone") or "UTC")
        for instance in self._instances(event_id, window):
            original = parse_utc({"dateTime": instance.get("originalStart")})
            if original not in kept:
                self.graph.delete(f"{self.user}/events/{instance['id']}")
                continue
            exception = exceptions.pop(original, None)
            if exception is None:
                continue
            change: dict[str, Any] = {
                k: exception[k] for k in EXCEPTION_FIELDS if exception.get(k) is not None
            }
            for name in ("start", "end"):
                local = in_zone(exception.get(name), zone_name)
                if local is not None:
                    change[name] = local
            if "body" in change:
                note = attendee_note(
                    exception.get("attendees") or [],
                    str(change["body"].get("contentType") or "text"),
                )
                change["body"] = {
                    **change["body"],
                    "content": str(change["body"].get("content") or "") + note,
                }
            self.graph.patch(f"{self.user}/events/{instance['id']}", change)
        if exceptions:
            return (
                f"{len(exceptions)} changed occurrence(s) of the series did not fall on the "
                "restored series' pattern."
            )
        return ""

    def _attach(self, event_id: str, attachment: dict[str, Any]) -> None:
        size = int(attachment.get("size") or 0)
        if size > MAX_INLINE:  # 3 MB to 150 MB: an upload session, as the person
            session = self.graph.post(
                f"{self.user}/events/{event_id}/attachments/createUploadSession",
                {
                    "AttachmentItem": {
                        "attachmentType": "file",
                        "name": attachment.get("name") or "attachment",
                        "size": size,
                        "contentType": attachment.get("contentType") or "application/octet-stream",
                        "isInline": bool(attachment.get("isInline")),
                    }
                },
            )
            upload_attachment(self.graph, str(session["uploadUrl"]), str(attachment["blob"]), size)
            return
        with blob_store().open(str(attachment["blob"])) as stream:
            content = stream.read()
        self.graph.post(
            f"{self.user}/events/{event_id}/attachments",
            {
                "@odata.type": "#microsoft.graph.fileAttachment",
                "name": attachment.get("name") or "attachment",
                "contentType": attachment.get("contentType") or "application/octet-stream",
                "isInline": bool(attachment.get("isInline")),
                "contentBytes": base64.b64encode(content).decode("ascii"),
            },
        )

    # --- a dry run ----------------------------------------------------------------------

    def plan(self, job_items: list[RestoreJobItem]) -> list[Step]:
        steps: list[Step | None] = [None] * len(job_items)
        lookups: dict[str, str] = {}
        for index, job_item in enumerate(job_items):
            item = job_item.item
            if not item.content_sha256:
                steps[index] = Step(Action.CANNOT, NO_CONTENT)
                continue
            saved = document(item)
            try:
                self._check(item, saved)
                self._event_json(item, saved, "")
            except Refused as why:
                steps[index] = Step(Action.CANNOT, str(why))
                continue
            calendar_id = self._target(item.folder, create=False)
            if calendar_id is None:
                steps[index] = Step(Action.RESTORE, "Its calendar is created first.")
                continue
            lookups |= self._existing_urls(calendar_id, saved["event"], str(index))
        found: set[int] = set()
        for key, (status, body) in self.graph.get_many(lookups).items():
            index = int(key[:-1])
            if status >= 400:
                steps[index] = Step(
                    Action.CANNOT,
                    f"Microsoft 365 answered {status} when asked what is in the calendar.",
                )
            elif (body or {}).get("value"):
                found.add(index)
        for index in range(len(job_items)):
            if steps[index] is None:
                steps[index] = self._step("found" if index in found else None)
        return [step or Step(Action.RESTORE) for step in steps]

    # --- reading back -------------------------------------------------------------------

    def verify(self, job_items: list[RestoreJobItem]) -> dict[int, Verdict]:
        expand = quote(
            "attachments($select=name),"
            f"singleValueExtendedProperties($filter=id eq {_quote(MARKER_PROPERTY)})"
        )
        urls = {
            str(ji.pk): f"/{self.user}/events/{ji.result_graph_id}?$select={VERIFY_SELECT}"
            f"&$expand={expand}"
            for ji in job_items
        }
        verdicts: dict[int, Verdict] = {}
        by_key = {str(ji.pk): ji for ji in job_items}
        for key, (status, body) in self.graph.get_many(urls).items():
            job_item = by_key[key]
            if status == 404:
                verdicts[job_item.pk] = Verdict.differs(["not found in the calendar"])
            elif status >= 400:
                verdicts[job_item.pk] = Verdict.unreadable(
                    f"Could not be read back: Microsoft 365 answered {status}."
                )
            else:
                differences = self._compare(job_item, body or {})
                verdicts[job_item.pk] = (
                    Verdict.differs(differences) if differences else Verdict.matches()
                )
        return verdicts

    def _compare(self, job_item: RestoreJobItem, found: dict[str, Any]) -> list[str]:
        saved = document(job_item.item)
        entry = saved["event"]
        differences = []
        if str(found.get("subject") or "") != str(entry.get("subject") or ""):
            differences.append("subject")
        for name in ("start", "end"):
            if parse_utc(found.get(name)) != parse_utc(entry.get(name)):
                differences.append(f"{name} time")
        for name in ("isAllDay", "importance", "sensitivity", "showAs", "isReminderOn"):
            if entry.get(name) is not None and found.get(name) != entry.get(name):
                differences.append(name)
        if sorted(found.get("categories") or []) != sorted(entry.get("categories") or []):
            differences.append("categories")
        if found.get("attendees"):
            differences.append("attendees were added (invitations)")
        if (found.get("recurrence") or {}).get("pattern") != (entry.get("recurrence") or {}).get(
            "pattern"
        ):
            differences.append("recurrence")
        names = sorted(str(a.get("name")) for a in found.get("attachments") or [])
        if names != sorted(
            str(a.get("name")) for a in (job_item.item.meta or {}).get("attachments") or []
        ):
            differences.append("attachments")
        properties = {
            str(p.get("id", "")).casefold(): p.get("value")
            for p in found.get("singleValueExtendedProperties") or []
        }
        if properties.get(MARKER_PROPERTY.casefold()) != marker_value(job_item):
            differences.append("restore marker missing or incomplete")
        if entry.get("recurrence") and saved.get("window"):
            got = sorted(
                str(i.get("originalStart"))
                for i in self._instances(job_item.result_graph_id, saved["window"])
            )
            want = sorted(saved.get("occurrences") or [])
            if [parse_utc({"dateTime": g}) for g in got] != [
                parse_utc({"dateTime": w}) for w in want
            ]:
                differences.append(f"{len(got)} occurrences instead of {len(want)}")
        return differences
