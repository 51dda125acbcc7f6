"""A restore point's calendar as a month or a week: every occurrence, as the backup saw it.

The catalog holds events as Graph gave them (single events, and series masters with
their exceptions and the occurrences still there). Their occurrences in a month or a week
are the .ics export's (restore/catalog/exports.py: RRULE, EXDATE per cancelled occurrence,
RECURRENCE-ID per exception) expanded by `recurring_ical_events`, the maintained library
for exactly that — so the grid shows what a restore or a download would give back.
"""

from __future__ import annotations

import calendar as weeks
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import icalendar
import recurring_ical_events
from django.db.models import QuerySet
from django.utils import timezone

from restore.catalog import exports
from restore.models import Item

VIEWS = ("list", "month", "week")


@dataclass(frozen=True)
class Occurrence:
    item_id: int
    title: str
    start: datetime | date
    all_day: bool


@dataclass(frozen=True)
class Day:
    day: date
    in_range: bool  # a day of the month shown (not a neighbour filling the first week)
    occurrences: list[Occurrence]


@dataclass(frozen=True)
class Grid:
    view: str
    anchor: date
    first: date
    last: date
    weeks: list[list[Day]]
    previous: date
    next: date

    @property
    def title(self) -> str:
        if self.view == "month":
            return f"{self.anchor:%B %Y}"
        return f"{self.first:%Y-%m-%d} to {self.last:%Y-%m-%d}"


def parse_anchor(text: str | None, today: date) -> date:
    """The ?at= day the grid shows (YYYY-MM-DD or YYYY-MM), else today; ValueError if bad."""
    if not text:
        return today
    if len(text) == 7:
        return date.fromisoformat(f"{text}-01")
    return date.fromisoformat(text[:10])


def _bounds(view: str, anchor: date) -> tuple[date, date, date, date]:
    """(first day shown, last day shown, previous anchor, next anchor); weeks from Monday."""
    if view == "week":
        first = anchor - timedelta(days=anchor.weekday())
        return first, first + timedelta(days=6), first - timedelta(days=7), first + timedelta(7)
    month_start = anchor.replace(day=1)
    days = weeks.monthrange(anchor.year, anchor.month)[1]
    month_end = month_start + timedelta(days=days - 1)
    first = month_start - timedelta(days=month_start.weekday())
    last = month_end + timedelta(days=6 - month_end.weekday())
    previous = (month_start - timedelta(days=1)).replace(day=1)
    return first, last, previous, month_end + timedelta(days=1)


def _candidates(items: QuerySet[Item], first: date, last: date) -> list[Item]:
    """Events that may occur in [first, last]: a series that began by `last`, a single
    event starting within a day of the range (dated_at is its start, in UTC)."""

    def moment(day: date) -> datetime:
        return timezone.make_aware(datetime.combine(day, datetime.min.time()))

    until, since = moment(last + timedelta(days=2)), moment(first - timedelta(days=1))
    rows = items.filter(kind=Item.Kind.EVENT, dated_at__lt=until)
    return [item for item in rows if (item.meta or {}).get("recurrence") or item.dated_at >= since]


def grid(items: QuerySet[Item], view: str, anchor: date) -> Grid:
    """The month (or week) around `anchor` of the calendar whose events are `items`."""
    first, last, previous, following = _bounds(view, anchor)
    candidates = _candidates(items, first, last)
    by_uid = {str((item.meta or {}).get("iCalUId") or item.graph_id): item for item in candidates}
    found: dict[date, list[Occurrence]] = {}
    if candidates:
        exported = icalendar.Calendar.from_ical(exports.ics(candidates))
        window = recurring_ical_events.of(exported).between(first, last + timedelta(days=1))
        zone = timezone.get_current_timezone()
        for event in window:
            item = by_uid.get(str(event.get("uid")))
            if item is None:
                continue
            start = event.decoded("dtstart")
            all_day = not isinstance(start, datetime)
            day = start if all_day else start.astimezone(zone).date()
            found.setdefault(day, []).append(
                Occurrence(item.pk, str(event.get("summary") or item.name), start, all_day)
            )
    rows: list[list[Day]] = []
    day = first
    while day <= last:
        week = []
        for _ in range(7):
            shown = sorted(found.get(day, []), key=lambda o: (not o.all_day, o.start.isoformat()))
            in_range = view == "week" or day.month == anchor.month
            week.append(Day(day, in_range, shown))
            day += timedelta(days=1)
        rows.append(week)
    return Grid(view, anchor, first, last, rows, previous, following)
