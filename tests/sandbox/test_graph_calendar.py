"""Outlook calendars and contacts through the sandbox's Graph, against Microsoft's
documented behaviour (docs/sandbox.md, "Calendars and contacts")."""

from __future__ import annotations

import base64

import pytest

from sandbox import demo
from sandbox.models import Invitation
from tests.sandbox.graph import Graph, app_token, error_code, user_token

ALICE = "users/alice@contoso.example"
WINDOW = "startDateTime=2025-01-01T00:00:00Z&endDateTime=2027-01-01T00:00:00Z"
MARKER = "String {7b1f3c2e-5a4d-4e8b-9c6f-1d2e3f4a5b6c} Name LifeboatRestoreMarker"


@pytest.fixture
def graph(sandbox) -> Graph:
    return Graph(app_token(sandbox))


@pytest.fixture
def alice(sandbox) -> Graph:
    """Alice herself: the app may only read calendars and contacts (Calendars.Read)."""
    return Graph(user_token(sandbox, "alice", ["Calendars.ReadWrite", "Contacts.ReadWrite"]))


def _calendar(graph: Graph, name: str) -> dict:
    return next(c for c in graph.ok("GET", f"{ALICE}/calendars")["value"] if c["name"] == name)


def _series(graph: Graph, subject: str = "Team sync") -> dict:
    events, _ = graph.all(f"{ALICE}/calendar/events?$top=50")
    return next(e for e in events if e["subject"] == subject)


def test_events_lists_singles_and_masters_and_instances_expand_the_series(graph):
    events, _ = graph.all(f"{ALICE}/calendar/events?$top=2&$select=subject,type")
    master = _series(graph)
    instances, _ = graph.all(f"{ALICE}/events/{master['id']}/instances?{WINDOW}")

    assert {e["type"] for e in events} == {"singleInstance", "seriesMaster"}
    assert set(events[0]) <= {"@odata.etag", "id", "subject", "type"}
    assert master["recurrence"]["pattern"]["type"] == "weekly"
    assert master["originalStartTimeZone"] == "W. Europe Standard Time"
    # 16 in the pattern, one cancelled; one moved (an exception) among the rest.
    assert len(instances) == 15
    assert [i["type"] for i in instances].count("exception") == 1
    assert all(i["seriesMasterId"] == master["id"] for i in instances)
    # 10:00 in Berlin before and after the change from summer time: UTC moves by an hour.
    hours = {i["start"]["dateTime"][11:16] for i in instances if i["type"] == "occurrence"}
    assert hours == {"08:00", "09:00"}


def test_patching_an_occurrence_makes_an_exception_and_deleting_one_cancels_it(graph, alice):
    master = _series(graph)
    before, _ = graph.all(f"{ALICE}/events/{master['id']}/instances?{WINDOW}")
    occurrences = [i for i in before if i["type"] == "occurrence"]
    moved = alice.ok(
        "PATCH", f"me/events/{occurrences[0]['id']}", json={"subject": "Team sync (moved)"}
    )
    deleted = alice.delete(f"me/events/{occurrences[1]['id']}")
    after, _ = graph.all(f"{ALICE}/events/{master['id']}/instances?{WINDOW}")
    again = graph.get(f"{ALICE}/events/{occurrences[1]['id']}")

    assert moved["type"] == "exception"
    assert moved["originalStart"] == occurrences[0]["originalStart"]
    assert deleted.status_code == 204
    assert len(after) == len(before) - 1
    assert again.status_code == 404
    assert graph.ok("GET", f"{ALICE}/events/{master['id']}")["changeKey"] != master["changeKey"]


def test_calendar_view_expands_every_series_of_that_calendar(graph):
    planning = _calendar(graph, "Planning")
    view, _ = graph.all(f"{ALICE}/calendars/{planning['id']}/calendarView?{WINDOW}")
    missing = graph.get(f"{ALICE}/calendar/calendarView")

    assert [v["subject"] for v in view] == ["Quarterly planning"] * 6
    assert missing.status_code == 400


def test_prefer_outlook_timezone_and_all_day_events(graph):
    events, _ = graph.all(
        f"{ALICE}/calendar/events?$top=50",
        headers={"Prefer": 'outlook.timezone="Tokyo Standard Time"'},
    )
    tokyo = next(e for e in events if e["subject"] == "Call with the Tokyo office")
    offsite = next(e for e in events if e["subject"] == "Team offsite")

    assert tokyo["start"]["timeZone"] == "Tokyo Standard Time"
    assert tokyo["start"]["dateTime"].startswith("2025-09-20T09:30")
    assert offsite["isAllDay"]
    assert offsite["start"]["dateTime"].endswith("T00:00:00.0000000")


def test_a_meeting_created_with_attendees_sends_invitations_and_one_without_none(sandbox):
    graph = Graph(user_token(sandbox, "alice", ["Calendars.ReadWrite"]))
    body = {
        "subject": "Budget review",
        "start": {"dateTime": "2026-03-02T10:00:00", "timeZone": "Pacific Standard Time"},
        "end": {"dateTime": "2026-03-02T11:00:00", "timeZone": "Pacific Standard Time"},
        "singleValueExtendedProperties": [{"id": MARKER, "value": "job:1"}],
    }
    alone = graph.post("me/events", json=body)
    assert Invitation.objects.count() == 0
    invited = graph.post(
        "me/events",
        json={**body, "attendees": [{"emailAddress": {"address": "bob@contoso.example"}}]},
    )
    found = graph.ok(
        "GET",
        "me/events?$filter=singleValueExtendedProperties/any(ep: ep/id eq "
        f"'{MARKER}' and ep/value eq 'job:1')&$select=id",
    )["value"]

    assert alone.status_code == 201
    assert invited.status_code == 201
    assert list(Invitation.objects.values_list("recipient", "kind")) == [
        ("bob@contoso.example", "request")
    ]
    assert {f["id"] for f in found} == {alone.json()["id"], invited.json()["id"]}


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"recurrence": {"pattern": {"type": "weekly", "interval": 1}, "range": {"type": "noEnd", "startDate": "2026-03-02"}}}, "ErrorInvalidRecurrence"),
        ({"recurrence": {"pattern": {"type": "fortnightly", "interval": 1}, "range": {"type": "noEnd", "startDate": "2026-03-02"}}}, "ErrorInvalidRecurrence"),
        ({"start": {"dateTime": "2026-03-02T10:00:00", "timeZone": "Mars Standard Time"}}, "TimeZoneNotSupportedException"),
        ({"attendees": [{"emailAddress": {"address": "not an address"}}]}, "ErrorInvalidRecipients"),
        ({"colour": "blue"}, "RequestBodyRead"),
    ],
)  # fmt: skip
def test_bad_events_are_refused_and_nothing_is_created(graph, alice, change, code):
    body = {
        "subject": "Refused",
        "start": {"dateTime": "2026-03-02T10:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-03-02T11:00:00", "timeZone": "UTC"},
        **change,
    }
    answer = alice.post("me/calendar/events", json=body)
    events, _ = graph.all(f"{ALICE}/calendar/events?$top=100&$filter=subject eq 'Refused'")

    assert answer.status_code == 400
    assert error_code(answer) == code
    assert events == []


def test_event_attachments_list_and_content(graph):
    events, _ = graph.all(f"{ALICE}/calendar/events?$top=50")
    tokyo = next(e for e in events if e["subject"] == "Call with the Tokyo office")
    listed = graph.ok("GET", f"{ALICE}/events/{tokyo['id']}/attachments?$select=name,size")
    content = graph.get(
        f"{ALICE}/events/{tokyo['id']}/attachments/{listed['value'][0]['id']}/$value"
    )

    assert tokyo["hasAttachments"] is True
    assert [(a["name"], a["size"]) for a in listed["value"]] == [("Agenda.txt", 21)]
    assert content.content == b"1. Roadmap\n2. Hiring\n"


def test_contact_folders_nest_and_contacts_delta_reports_a_deletion(graph, alice):
    top = graph.ok("GET", f"{ALICE}/contactFolders")["value"]
    suppliers = next(f for f in top if f["displayName"] == "Suppliers")
    nested = graph.ok("GET", f"{ALICE}/contactFolders/{suppliers['id']}/childFolders")["value"]
    root_id = suppliers["parentFolderId"]
    first, last = graph.all(
        f"{ALICE}/contactFolders/{root_id}/contacts/delta",
        key="@odata.nextLink",
        headers={"Prefer": "odata.maxpagesize=2"},
    )
    dana = next(c for c in first if c["displayName"] == "Dana Whitfield")
    alice.ok("DELETE", f"me/contacts/{dana['id']}")
    changes, _ = graph.all(last["@odata.deltaLink"])

    assert [f["displayName"] for f in nested] == ["Preferred"]
    assert dana["companyName"] == "Whitfield Consulting"
    assert changes == [{"id": dana["id"], "@removed": {"reason": "deleted"}}]


def test_contact_photo_round_trips(sandbox):
    graph = Graph(user_token(sandbox, "alice", ["Contacts.ReadWrite"]))
    created = graph.ok("POST", "me/contacts", json={"givenName": "Pat", "surname": "Lee"})
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    )
    none = graph.get(f"me/contacts/{created['id']}/photo/$value")
    put = graph.put(
        f"me/contacts/{created['id']}/photo/$value", data=png, headers={"Content-Type": "image/png"}
    )
    back = graph.get(f"me/contacts/{created['id']}/photo/$value")

    assert created["displayName"] == "Pat Lee"
    assert none.status_code == 404
    assert put.status_code == 200
    assert back.content == png


def test_writing_needs_calendars_readwrite(graph):
    refused = graph.post(f"{ALICE}/calendars", json={"name": "Not allowed"})

    assert refused.status_code == 403
    assert error_code(refused) == "ErrorAccessDenied"


def test_the_demo_cancels_a_quarterly_planning_occurrence_and_deletes_dana(graph):

    planning = _calendar(graph, "Planning")
    view = f"{ALICE}/calendars/{planning['id']}/calendarView?{WINDOW}"
    before, _ = graph.all(view)
    changed = demo.apply_demo_changes()
    after, _ = graph.all(view)
    names = [c["displayName"] for c in graph.all(f"{ALICE}/contacts?$top=100")[0]]

    assert len(after) == len(before) - 1
    assert changed["deleted contact"] == "Dana Whitfield"
    assert "Dana Whitfield" not in names
