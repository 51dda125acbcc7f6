"""A Microsoft 365 group's calendar through the sandbox's Graph: delegated only, to its
members and owners (docs/sandbox.md, "Group calendars")."""

from __future__ import annotations

import pytest

from sandbox import calendar_content
from sandbox.models import Group, Invitation
from tests.sandbox.graph import Graph, app_token, error_code, user_token

WINDOW = "startDateTime=2025-01-01T00:00:00Z&endDateTime=2027-06-01T00:00:00Z"
GROUP_SCOPES = ["Group.ReadWrite.All"]


@pytest.fixture
def finance(sandbox) -> str:
    return f"groups/{Group.objects.get(display_name='Finance', tenant_id=sandbox.tenant_id).id}"


def test_an_app_token_is_refused_as_graph_refuses_it_even_with_group_read_all(sandbox, finance):
    graph = Graph(app_token(sandbox))  # the seeded app holds the Group.Read.All app role
    for path in (f"{finance}/events", f"{finance}/calendarView?{WINDOW}", f"{finance}/calendar"):
        response = graph.get(path)
        assert response.status_code == 403, path
        assert response.json()["error"]["code"] == "ErrorAccessDenied"
        assert response.json()["error"]["message"] == (
            "Access is denied. Check credentials and try again."
        )


def test_a_member_reads_the_series_and_its_occurrences(sandbox, finance):
    alice = Graph(user_token(sandbox, "alice", ["Group.Read.All"]))  # a member of Finance
    events, _ = alice.all(f"{finance}/events?$top=50")
    review = next(e for e in events if e["subject"] == calendar_content.BUDGET_REVIEW)
    view, _ = alice.all(f"{finance}/calendarView?{WINDOW}&$top=100")
    instances, _ = alice.all(f"{finance}/events/{review['id']}/instances?{WINDOW}")

    assert review["type"] == "seriesMaster"
    assert review["recurrence"]["pattern"]["type"] == "absoluteMonthly"
    assert review["organizer"]["emailAddress"]["name"] == "Finance"
    assert len(instances) == 12
    assert [v["subject"] for v in view].count(calendar_content.BUDGET_REVIEW) == 12
    assert alice.ok("GET", f"{finance}/calendar")["owner"]["name"] == "Finance"


def test_a_non_member_is_refused_reading_and_writing(sandbox, finance):
    carol = Graph(user_token(sandbox, "carol", GROUP_SCOPES))  # not in Finance

    refused = carol.get(f"{finance}/events")
    assert (refused.status_code, error_code(refused)) == (403, "ErrorAccessDenied")
    posted = carol.post(f"{finance}/events", json=_event("Carol's"))
    assert (posted.status_code, error_code(posted)) == (403, "ErrorAccessDenied")


def test_a_member_posts_an_event_into_the_group_calendar_and_only_there(sandbox, finance):
    alice = Graph(user_token(sandbox, "alice", GROUP_SCOPES))
    created = alice.ok("POST", f"{finance}/calendar/events", json=_event("Offsite"))
    mine = Graph(user_token(sandbox, "alice", ["Calendars.ReadWrite"]))

    assert alice.ok("GET", f"{finance}/events/{created['id']}")["subject"] == "Offsite"
    assert mine.get(f"me/events/{created['id']}").status_code == 404  # not Alice's own
    assert not Invitation.objects.filter(event_id=created["id"]).exists()  # no attendees


def _event(subject: str) -> dict:
    return {
        "subject": subject,
        "start": {"dateTime": "2026-03-02T10:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-03-02T11:00:00", "timeZone": "UTC"},
    }
