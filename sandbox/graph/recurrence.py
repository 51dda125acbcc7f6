"""Exchange's recurrence, as Graph writes it (patternedRecurrence), expanded with
python-dateutil's rrule; and the time zones Graph accepts on dateTimeTimeZone.

Graph accepts Windows time zone names ("Pacific Standard Time") and IANA names
("Europe/Berlin") in `start.timeZone`; this table holds the Windows names the sandbox
knows (a subset of CLDR's windowsZones mapping). An unknown name is refused as Graph
refuses it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import rrule

from sandbox.graph import errors

WINDOWS_ZONES = {
    "utc": "UTC",
    "gmt standard time": "Europe/London",
    "w. europe standard time": "Europe/Berlin",
    "romance standard time": "Europe/Paris",
    "central europe standard time": "Europe/Budapest",
    "e. europe standard time": "Europe/Chisinau",
    "fle standard time": "Europe/Kiev",
    "eastern standard time": "America/New_York",
    "central standard time": "America/Chicago",
    "mountain standard time": "America/Denver",
    "pacific standard time": "America/Los_Angeles",
    "tokyo standard time": "Asia/Tokyo",
    "india standard time": "Asia/Kolkata",
    "china standard time": "Asia/Shanghai",
    "aus eastern standard time": "Australia/Sydney",
    "new zealand standard time": "Pacific/Auckland",
    "nepal standard time": "Asia/Kathmandu",
}
DAYS = {
    "monday": rrule.MO, "tuesday": rrule.TU, "wednesday": rrule.WE, "thursday": rrule.TH,
    "friday": rrule.FR, "saturday": rrule.SA, "sunday": rrule.SU,
}  # fmt: skip
INDEX = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
MONTHS_LIMIT = 12 * 100  # no expansion runs further than this (noEnd series)


def zone(name: str) -> ZoneInfo:
    """The zone a dateTimeTimeZone names; Graph's error for one it does not know."""
    key = (name or "UTC").strip()
    iana = WINDOWS_ZONES.get(key.lower(), key)
    try:
        return ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError):
        raise errors.GraphError(
            400,
            "TimeZoneNotSupportedException",
            f"A valid TimeZone value must be specified. The following TimeZone value is not "
            f"supported: '{name}'.",
        ) from None


def parse_local(value: dict[str, Any], field: str) -> datetime:
    """A dateTimeTimeZone as an aware datetime."""
    if not isinstance(value, dict) or not value.get("dateTime"):
        raise errors.bad_request(f"The property '{field}' is required: a dateTime and timeZone.")
    try:
        naive = datetime.fromisoformat(str(value["dateTime"]).replace("Z", ""))
    except ValueError:
        raise errors.bad_request(f"Cannot convert the literal '{value['dateTime']}'.") from None
    return naive.replace(tzinfo=None).replace(tzinfo=zone(str(value.get("timeZone") or "UTC")))


def to_graph(moment: datetime, time_zone: str = "UTC") -> dict[str, str]:
    """dateTimeTimeZone in `time_zone` (Graph answers in UTC unless Prefer says otherwise)."""
    local = moment.astimezone(zone(time_zone))
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": time_zone}


def _date(value: Any, field: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise errors.bad_request(f"Recurrence {field} '{value}' is not a date.") from None


def validate(recurrence: Any) -> None:
    """Refuse what Exchange refuses: unknown pattern types, a weekly pattern without days,
    a range without its start or end, an interval under 1, a recurrenceTimeZone it does
    not know."""
    if recurrence is None:
        return
    rule(recurrence, datetime(2000, 1, 1, tzinfo=UTC))
    span = recurrence.get("range") or {}
    if span.get("recurrenceTimeZone"):
        zone(str(span["recurrenceTimeZone"]))


def rule(recurrence: dict[str, Any], first: datetime) -> rrule.rrule:
    """The rrule of a patternedRecurrence whose first occurrence starts at `first` (local)."""
    if not isinstance(recurrence, dict):
        raise errors.bad_request("Recurrence must be an object with pattern and range.")
    pattern = recurrence.get("pattern") or {}
    span = recurrence.get("range") or {}
    kind = str(pattern.get("type") or "")
    try:
        interval = int(pattern.get("interval") or 0)
    except (TypeError, ValueError):
        interval = 0
    if interval < 1:
        raise _invalid("The recurrence pattern's interval must be at least 1.")
    days = [str(d).lower() for d in pattern.get("daysOfWeek") or []]
    if any(d not in DAYS for d in days):
        raise _invalid(f"Unknown day of week in {days}.")
    weekdays = [DAYS[d] for d in days]
    options: dict[str, Any] = {"interval": interval, "dtstart": first.replace(tzinfo=None)}
    freq: Literal[0, 1, 2, 3, 4, 5, 6]
    if kind == "daily":
        freq = rrule.DAILY
    elif kind == "weekly":
        if not weekdays:
            raise _invalid("A weekly recurrence pattern needs daysOfWeek.")
        freq = rrule.WEEKLY
        options["byweekday"] = weekdays
        options["wkst"] = DAYS.get(str(pattern.get("firstDayOfWeek") or "sunday").lower(), rrule.SU)
    elif kind in ("absoluteMonthly", "absoluteYearly"):
        day = int(pattern.get("dayOfMonth") or 0)
        if not 1 <= day <= 31:
            raise _invalid(f"A {kind} recurrence pattern needs dayOfMonth between 1 and 31.")
        freq = rrule.MONTHLY if kind == "absoluteMonthly" else rrule.YEARLY
        options["bymonthday"] = day
        if kind == "absoluteYearly":
            options["bymonth"] = _month(pattern)
    elif kind in ("relativeMonthly", "relativeYearly"):
        if not weekdays:
            raise _invalid(f"A {kind} recurrence pattern needs daysOfWeek.")
        index = INDEX.get(str(pattern.get("index") or "first").lower())
        if index is None:
            raise _invalid(f"Unknown recurrence index '{pattern.get('index')}'.")
        freq = rrule.MONTHLY if kind == "relativeMonthly" else rrule.YEARLY
        options["byweekday"] = weekdays
        options["bysetpos"] = index
        if kind == "relativeYearly":
            options["bymonth"] = _month(pattern)
    else:
        raise _invalid(f"Unknown recurrence pattern type '{kind}'.")
    range_type = str(span.get("type") or "")
    if "startDate" not in span:
        raise _invalid("The recurrence range needs a startDate.")
    _date(span["startDate"], "startDate")
    if range_type == "endDate":
        end = _date(span.get("endDate"), "endDate")
        options["until"] = datetime.combine(end, time(23, 59, 59))
    elif range_type == "numbered":
        count = int(span.get("numberOfOccurrences") or 0)
        if count < 1:
            raise _invalid("A numbered recurrence range needs numberOfOccurrences of 1 or more.")
        options["count"] = count
    elif range_type != "noEnd":
        raise _invalid(f"Unknown recurrence range type '{range_type}'.")
    return rrule.rrule(freq, **options)


def _month(pattern: dict[str, Any]) -> int:
    month = int(pattern.get("month") or 0)
    if not 1 <= month <= 12:
        raise _invalid("A yearly recurrence pattern needs month between 1 and 12.")
    return month


def _invalid(message: str) -> errors.GraphError:
    return errors.GraphError(400, "ErrorInvalidRecurrence", message)


def occurrences(
    recurrence: dict[str, Any], first: datetime, window_start: datetime, window_end: datetime
) -> list[datetime]:
    """Original starts (UTC) of the series' occurrences that begin before `window_end` and
    not before `window_start` minus a day (callers check overlap with the duration)."""
    tz = first.tzinfo or UTC
    span_start = _date((recurrence.get("range") or {}).get("startDate"), "startDate")
    local_first = first.astimezone(tz)
    begin = datetime.combine(span_start, local_first.timetz().replace(tzinfo=None))
    if begin < local_first.replace(tzinfo=None):
        begin = local_first.replace(tzinfo=None)
    series = rule(recurrence, begin.replace(tzinfo=tz))
    limit = begin + timedelta(days=31 * MONTHS_LIMIT)
    found = []
    for local in series:
        if local > limit:
            break
        moment = local.replace(tzinfo=tz).astimezone(UTC)
        if moment >= window_end:
            break
        if moment >= window_start - timedelta(days=1):
            found.append(moment)
    return found
