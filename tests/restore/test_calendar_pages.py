"""Backed-up events and contacts as people see them: the listing, the event preview, the
contact card, search, and the .ics / .vcf downloads (parsed back with icalendar and
vobject)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import icalendar
import pytest
import vobject
from django.test import Client
from django.urls import reverse

from restore.models import Item, RestoreJob
from tests.restore.jobs_support import back_up_calendar, back_up_contacts

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def test_the_event_preview_shows_times_recurrence_people_and_text(sandbox, client):
    point = back_up_calendar("alice")
    sync = Item.objects.get(object=point.object, name="Team sync")
    listing = client.get(
        reverse("restore:point", args=[point.pk]), {"folder": sync.folder_id}
    ).content.decode()
    page = client.get(reverse("restore:item", args=[sync.pk])).content.decode()

    assert "Organizer" in listing
    assert "Team sync" in listing
    assert "invite no one" in listing
    assert "2025-08-04 10:00 \N{EN DASH} 2025-08-04 10:30" in page
    assert "W. Europe Standard Time" in page
    assert "Every week on Monday, 16 times, from 2025-08-04" in page
    assert "1 changed occurrence" in page
    assert "Room 4.01" in page
    assert "blockers first" in page
    assert "<b>blockers" not in page


def test_the_contact_card_and_search_over_names_companies_phones(sandbox, client):
    point = back_up_contacts("alice")
    kenji = Item.objects.get(object=point.object, name="Kenji Sato")
    card = client.get(reverse("restore:item", args=[kenji.pk])).content.decode()

    def found(words: str) -> str:
        return client.get(reverse("restore:search"), {"q": words}).content.decode()

    assert "Tailspin Toys" in card
    assert "+81 3 1234 5678" in card
    assert "Springfield" in card
    assert "Kenji Sato" in found("Tailspin")
    assert "Kenji Sato" in found("Springfield")
    assert "Dana Whitfield" in found("whitfield")
    assert "Kenji Sato" not in found("Whitfield")


def test_search_covers_event_locations_and_attendees(sandbox, client):
    back_up_calendar("alice")

    def found(words: str) -> str:
        return client.get(reverse("restore:search"), {"q": words}).content.decode()

    assert "Team sync" in found('"Room 4.01"')
    assert "Team sync" in found("blockers")
    assert "Quarterly planning" in found("bob")


def test_an_ics_download_has_the_series_with_exceptions_and_cancelled_dates(sandbox, client):
    point = back_up_calendar("alice")
    sync = Item.objects.get(object=point.object, name="Team sync")
    tokyo = Item.objects.get(object=point.object, name="Call with the Tokyo office")

    one = client.get(reverse("restore:item-download", args=[sync.pk]))
    calendar: Any = icalendar.Calendar.from_ical(b"".join(one.streaming_content))
    events: list[Any] = calendar.walk("VEVENT")
    master = next(e for e in events if "RRULE" in e)
    moved = next(e for e in events if "RECURRENCE-ID" in e)
    client.post(
        reverse("restore:start-restore"),
        {"point": point.pk, "items": [sync.pk, tokyo.pk], "target": "download"},
    )
    job = RestoreJob.objects.get()
    many = client.get(reverse("restore:job-download", args=[job.pk]))
    both: Any = icalendar.Calendar.from_ical(b"".join(many.streaming_content))

    assert one["Content-Type"].startswith("text/calendar")
    assert 'filename="Team sync.ics"' in one["Content-Disposition"]
    assert master["RRULE"]["FREQ"] == ["WEEKLY"]
    assert master["RRULE"]["COUNT"] == [16]
    exdates = master["EXDATE"]
    exdates = exdates if isinstance(exdates, list) else [exdates]
    # The sixth Monday, cancelled: 10:00 in Berlin.
    assert [d.dt for e in exdates for d in e.dts] == [datetime(2025, 9, 8, 8, 0, tzinfo=UTC)]
    assert master.decoded("DTSTART") == datetime(2025, 8, 4, 8, 0, tzinfo=UTC)
    assert str(master.decoded("DTSTART").tzinfo) in {"Europe/Berlin", "W. Europe Standard Time"}
    assert str(moved["LOCATION"]) == "Room 2.12"
    assert {str(e["SUMMARY"]) for e in both.walk("VEVENT")} == {
        "Team sync",
        "Call with the Tokyo office",
    }
    assert "Restored items" in many["Content-Disposition"]
    assert len(calendar.walk("VTIMEZONE")) == 1


def test_a_vcf_download_has_the_fields_and_the_photo(sandbox, client):
    point = back_up_contacts("alice")
    kenji = Item.objects.get(object=point.object, name="Kenji Sato")

    answer = client.get(reverse("restore:item-download", args=[kenji.pk]))
    card = vobject.readOne(b"".join(answer.streaming_content).decode())

    assert answer["Content-Type"].startswith("text/vcard")
    assert card.fn.value == "Kenji Sato"
    assert card.email.value == "kenji@tailspin.example"
    assert card.org.value == ["Tailspin Toys"]
    assert {t.value for t in card.tel_list} == {
        "+81 3 1234 5678",
        "+81 3 1234 5678".replace("555", "556"),
    }
    assert card.photo.value.startswith(b"\x89PNG")


def test_the_first_point_marks_what_the_demo_changed_and_deleted_and_lists_events_by_day(
    sandbox, client
):
    from restore.backup import runner
    from sandbox import demo

    calendar_point = back_up_calendar("alice")
    contacts_point = back_up_contacts("alice")
    demo.apply_demo_changes()
    for point in (calendar_point, contacts_point):
        assert runner.run(point.object).point.status == "succeeded"
    planning = Item.objects.get(
        object=calendar_point.object, name="Quarterly planning", first_seq=1
    )
    dana = Item.objects.get(object=contacts_point.object, name="Dana Whitfield")
    sync = Item.objects.get(object=calendar_point.object, name="Team sync")

    def listing(point, folder_id) -> str:
        url = reverse("restore:point", args=[point.pk])
        return client.get(url, {"folder": folder_id}).content.decode()

    events = listing(calendar_point, planning.folder_id)
    people = listing(contacts_point, dana.folder_id)
    days = listing(calendar_point, sync.folder_id)

    assert 'data-testid="since">changed since' in events
    assert 'data-testid="since">deleted' in people
    assert people.count('data-testid="since"') == 1
    assert "Monday, 2025-08-04" in days


def _occurrences(html: str, title: str) -> dict[str, list[str]]:
    """{day: [time and title, …]} of the grid's cells that show `title`."""
    import re

    cells: dict[str, list[str]] = {}
    for day, cell in re.findall(r'<td class="[^"]*" data-day="([\d-]+)">(.*?)</td>', html, re.S):
        found = re.findall(r'data-testid="occurrence">([^<]*)</a>', cell)
        if shown := [o.strip() for o in found if title in o]:
            cells[day] = shown
    return cells


def test_the_month_view_shows_each_occurrence_moved_and_cancelled_as_backed_up(sandbox, client):
    point = back_up_calendar("alice")
    sync = Item.objects.get(object=point.object, name="Team sync")
    url = reverse("restore:point", args=[point.pk])
    august = client.get(url, {"folder": sync.folder_id, "view": "month", "at": "2025-08"})
    assert august.status_code == 200
    html = august.content.decode()
    assert "August 2025" in html
    # Weekly on Mondays at 10:00 Berlin (08:00 UTC); the third one moved three hours later.
    assert _occurrences(html, "Team sync") == {
        "2025-08-04": ["08:00 Team sync"],
        "2025-08-11": ["08:00 Team sync"],
        "2025-08-18": ["11:00 Team sync"],
        "2025-08-25": ["08:00 Team sync"],
    }
    september = client.get(url, {"folder": sync.folder_id, "view": "month", "at": "2025-09-01"})
    days = _occurrences(september.content.decode(), "Team sync")
    assert "2025-09-08" not in days  # cancelled before the backup
    assert {"2025-09-01", "2025-09-15", "2025-09-22", "2025-09-29"} <= set(days)
    week = client.get(url, {"folder": sync.folder_id, "view": "week", "at": "2025-08-20"})
    assert _occurrences(week.content.decode(), "Team sync") == {"2025-08-18": ["11:00 Team sync"]}


def test_bad_calendar_views_are_a_clear_400(sandbox, client):
    point = back_up_calendar("alice")
    sync = Item.objects.get(object=point.object, name="Team sync")
    url = reverse("restore:point", args=[point.pk])
    bad_view = client.get(url, {"folder": sync.folder_id, "view": "year"})
    assert bad_view.status_code == 400
    assert "must be list, month or week" in bad_view.content.decode()
    bad_day = client.get(url, {"folder": sync.folder_id, "view": "month", "at": "someday"})
    assert bad_day.status_code == 400
