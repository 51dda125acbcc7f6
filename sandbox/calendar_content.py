"""Calendars and contacts of the seeded people (called from sandbox/content.py).

Each person gets a default calendar with a weekly "Team sync" (one occurrence moved, one
cancelled), a few one-off events (an all-day offsite, a call in Tokyo time with an
agenda attached, a lunch), and contacts in the default folder and in a nested folder
(one with a photo). Alice also has "Quarterly planning" (a quarterly series the demo
trims by one occurrence) in a second calendar, and the contact "Dana Whitfield" (the
demo deletes her). Ids derive from names: the same seed, the same tenant. Nobody is
invited by seeding.
"""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

from sandbox import generator
from sandbox.graph import calendar, contacts, ids, recurrence
from sandbox.models import Calendar, ContactFolder, DirectoryUser, Event, Group

QUARTERLY = "Quarterly planning"
DANA = "Dana Whitfield"
# A 1x1 PNG: enough for a photo to round-trip byte for byte.
PHOTO = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def _when(days: int, hour: int, minute: int = 0) -> Any:
    return (generator.EPOCH + timedelta(days=days)).replace(hour=hour, minute=minute, second=0)


def _local(moment: Any, zone: str) -> dict[str, str]:
    return recurrence.to_graph(moment, zone)


def _attendee(user: DirectoryUser, kind: str = "required") -> dict[str, Any]:
    return {"emailAddress": {"name": user.display_name, "address": user.mail}, "type": kind}


def _event(owner: DirectoryUser, cal: Calendar, key: str, data: dict[str, Any]) -> Event:
    seed = f"{owner.user_principal_name}:event:{key}"
    return calendar.new_event(
        owner,
        cal,
        data,
        event_id=ids.message_id(seed),
        ical_uid="040000008200E00074C5B7101A82E008" + ids.change_key(seed)[-16:].upper(),
        now=generator.EPOCH - timedelta(days=60),
        invite=False,
    )


def seed_person(user: DirectoryUser, colleagues: list[DirectoryUser]) -> None:
    others = [c for c in colleagues if c.pk != user.pk][:3]
    cal = calendar.default_calendar(user)
    zone = "W. Europe Standard Time"
    monday = _when(-56 - generator.EPOCH.weekday(), 8)  # a Monday, 09:00 Berlin (summer: 10:00)
    sync = _event(
        user,
        cal,
        "team-sync",
        {
            "subject": "Team sync",
            "body": {
                "contentType": "html",
                "content": "<p>Weekly status: <b>blockers first</b>.</p>",
            },
            "start": _local(monday, zone),
            "end": _local(monday + timedelta(minutes=30), zone),
            "location": {"displayName": "Room 4.01"},
            "attendees": [_attendee(o) for o in others],
            "recurrence": {
                "pattern": {
                    "type": "weekly",
                    "interval": 1,
                    "daysOfWeek": ["monday"],
                    "firstDayOfWeek": "monday",
                },
                "range": {
                    "type": "numbered",
                    "startDate": monday.astimezone(recurrence.zone(zone)).date().isoformat(),
                    "numberOfOccurrences": 16,
                    "recurrenceTimeZone": zone,
                },
            },
            "categories": ["Blue category"],
            "reminderMinutesBeforeStart": 10,
            "showAs": "busy",
        },
    )
    starts = sorted(calendar._occurrence_starts(sync))
    Event.objects.create(
        id=ids.message_id(f"{user.user_principal_name}:event:team-sync:moved"),
        owner=user,
        calendar=cal,
        kind=Event.Kind.EXCEPTION,
        master=sync,
        original_start=starts[2],
        starts_at=starts[2] + timedelta(hours=3),
        ends_at=starts[2] + timedelta(hours=3, minutes=30),
        data={
            **{k: v for k, v in sync.data.items() if k != "recurrence"},
            "start": _local(starts[2] + timedelta(hours=3), zone),
            "end": _local(starts[2] + timedelta(hours=3, minutes=30), zone),
            "location": {"displayName": "Room 2.12"},
        },
        ical_uid=sync.ical_uid,
        change_key=ids.change_key(f"{user.user_principal_name}:moved"),
        created_at=sync.created_at,
        modified_at=sync.created_at,
    )
    sync.cancelled = [calendar._stamp(starts[5])]
    sync.save(update_fields=["cancelled"])
    offsite = _when(-20, 0)
    _event(
        user,
        cal,
        "offsite",
        {
            "subject": "Team offsite",
            "start": {"dateTime": offsite.date().isoformat() + "T00:00:00", "timeZone": zone},
            "end": {
                "dateTime": (offsite + timedelta(days=2)).date().isoformat() + "T00:00:00",
                "timeZone": zone,
            },
            "isAllDay": True,
            "showAs": "oof",
            "location": {"displayName": "Lake Constance"},
        },
    )
    tokyo = _when(-10, 0, 30)
    call = _event(
        user,
        cal,
        "tokyo-call",
        {
            "subject": "Call with the Tokyo office",
            "body": {"contentType": "text", "content": "Dial-in details in the agenda."},
            "start": _local(tokyo, "Tokyo Standard Time"),
            "end": _local(tokyo + timedelta(hours=1), "Tokyo Standard Time"),
            "importance": "high",
            "sensitivity": "private",
            "isReminderOn": False,
            "categories": ["Red category", "Travel"],
        },
    )
    calendar._add_attachment(
        call,
        {
            "name": "Agenda.txt",
            "contentType": "text/plain",
            "contentBytes": base64.b64encode(b"1. Roadmap\n2. Hiring\n").decode(),
        },
    )
    lunch = _when(-3, 11)
    _event(
        user,
        cal,
        "lunch",
        {
            "subject": "Lunch with " + (others[0].display_name if others else "a friend"),
            "start": _local(lunch, "UTC"),
            "end": _local(lunch + timedelta(hours=1), "UTC"),
            "showAs": "tentative",
        },
    )
    if user.user_principal_name.startswith("alice@"):
        team = Calendar.objects.create(
            id=ids.folder_id(f"calendar:{user.user_principal_name}:planning"),
            owner=user,
            name="Planning",
            change_key=ids.change_key(f"{user.user_principal_name}:planning"),
        )
        first = _when(-80, 13)
        _event(
            user,
            team,
            "quarterly",
            {
                "subject": QUARTERLY,
                "body": {"contentType": "html", "content": "<p>Plan the next quarter.</p>"},
                "start": _local(first, "Eastern Standard Time"),
                "end": _local(first + timedelta(hours=2), "Eastern Standard Time"),
                "attendees": [_attendee(o) for o in others],
                "recurrence": {
                    "pattern": {"type": "absoluteMonthly", "interval": 3, "dayOfMonth": first.day},
                    "range": {
                        "type": "numbered",
                        "startDate": first.date().isoformat(),
                        "numberOfOccurrences": 6,
                    },
                },
            },
        )
    _seed_contacts(user, others)


def _seed_contacts(user: DirectoryUser, others: list[DirectoryUser]) -> None:
    root = contacts.root_folder(user)
    suppliers = ContactFolder.objects.create(
        id=ids.folder_id(f"contacts:{user.user_principal_name}:suppliers"),
        owner=user,
        parent=root,
        display_name="Suppliers",
    )
    preferred = ContactFolder.objects.create(
        id=ids.folder_id(f"contacts:{user.user_principal_name}:preferred"),
        owner=user,
        parent=suppliers,
        display_name="Preferred",
    )
    people = [
        (root, DANA, "Whitfield Consulting", "dana@whitfield.example", "+1 206 555 0142", False),
        (
            root,
            "Omar Haddad",
            "Northwind Traders",
            "omar@northwind.example",
            "+44 20 7946 0958",
            False,
        ),
        (
            suppliers,
            "Lena Fischer",
            "Fabrikam Paper",
            "lena@fabrikam-paper.example",
            "+49 30 901820",
            False,
        ),
        (
            preferred,
            "Kenji Sato",
            "Tailspin Toys",
            "kenji@tailspin.example",
            "+81 3 1234 5678",
            True,
        ),
    ]
    for folder, name, company, address, phone, photo in people:
        given, _, surname = name.partition(" ")
        contact = contacts.new_contact(
            user,
            folder,
            {
                "givenName": given,
                "surname": surname,
                "displayName": name,
                "companyName": company,
                "jobTitle": "Account manager",
                "emailAddresses": [{"name": name, "address": address}],
                "businessPhones": [phone],
                "mobilePhone": phone.replace("555", "556"),
                "businessAddress": {
                    "street": "1 Main Street",
                    "city": "Springfield",
                    "postalCode": "12345",
                    "countryOrRegion": "United States",
                },
                "personalNotes": f"Met {name.split()[0]} at the trade fair.",
                "birthday": "1984-05-17T11:59:00Z",
                "categories": ["Supplier"] if folder is not root else [],
            },
            contact_id=ids.message_id(f"{user.user_principal_name}:contact:{name}"),
            journal=False,
        )
        if photo:
            contact.photo, contact.photo_type = PHOTO, "image/png"
            contact.save(update_fields=["photo", "photo_type"])
    for other in others[:2]:
        contacts.new_contact(
            user,
            root,
            {
                "displayName": other.display_name,
                "givenName": other.given_name,
                "surname": other.surname,
                "emailAddresses": [{"name": other.display_name, "address": other.mail}],
                "companyName": "Contoso",
            },
            contact_id=ids.message_id(
                f"{user.user_principal_name}:contact:{other.user_principal_name}"
            ),
            journal=False,
        )


BUDGET_REVIEW = "Budget review"
# The demo's group with a calendar that only its members can back up (delegated only).
GROUP_CALENDAR_GROUPS = ("Finance",)


def seed_group(group: Group) -> None:
    """Finance's group calendar: a monthly "Budget review" series and a one-off close
    meeting. Group calendars are delegated-only in Graph: the portal backs them up with a
    member's or owner's sign-in."""
    cal = Calendar.objects.create(
        id=ids.folder_id(f"group-calendar:{group.id}"),
        group=group,
        name="Calendar",
        is_default=True,
        change_key=ids.change_key(f"group-calendar:{group.id}"),
    )
    zone = "W. Europe Standard Time"
    first = _when(-40, 13)
    key = f"group:{group.id}:event"
    calendar.new_event(
        None,
        cal,
        {
            "subject": BUDGET_REVIEW,
            "body": {"contentType": "html", "content": "<p>Forecast against actuals.</p>"},
            "start": _local(first, zone),
            "end": _local(first + timedelta(hours=1), zone),
            "location": {"displayName": "Finance room"},
            "recurrence": {
                "pattern": {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": first.day},
                "range": {
                    "type": "numbered",
                    "startDate": first.astimezone(recurrence.zone(zone)).date().isoformat(),
                    "numberOfOccurrences": 12,
                    "recurrenceTimeZone": zone,
                },
            },
            "categories": ["Green category"],
        },
        event_id=ids.message_id(f"{key}:budget-review"),
        ical_uid="040000008200E00074C5B7101A82E008" + ids.change_key(key)[-16:].upper(),
        now=generator.EPOCH - timedelta(days=60),
        invite=False,
    )
    close = _when(-3, 9)
    calendar.new_event(
        None,
        cal,
        {
            "subject": "Quarter close",
            "start": _local(close, zone),
            "end": _local(close + timedelta(hours=2), zone),
        },
        event_id=ids.message_id(f"{key}:quarter-close"),
        ical_uid="040000008200E00074C5B7101A82E008" + ids.change_key(f"{key}:close")[-16:].upper(),
        now=generator.EPOCH - timedelta(days=30),
        invite=False,
    )
