"""Admin console: the audit log: filter, page, export as CSV."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime, time

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_GET

from authflow.access import role_required
from authflow.models import Role
from console.tenancy import scoped
from portal import audit
from portal.http import PortalRequest
from portal.models import AuditEvent

CSV_COLUMNS = [
    "occurred_at", "action", "outcome", "actor_label", "actor_identity", "on_behalf_of",
    "target", "ip", "correlation_id", "details",
]  # fmt: skip


def _filtered(request: PortalRequest) -> tuple[QuerySet[AuditEvent], dict[str, str], list[str]]:
    events = scoped(request, AuditEvent.objects.all(), "tenant_id")
    filters = {
        key: request.GET.get(key, "").strip()[:200]
        for key in ("action", "actor", "on_behalf_of", "outcome", "since", "until")
    }
    errors = []
    if filters["action"]:
        events = events.filter(action__startswith=filters["action"])
    if filters["actor"]:
        events = events.filter(actor_label__icontains=filters["actor"])
    if filters["on_behalf_of"]:
        events = events.filter(on_behalf_of__icontains=filters["on_behalf_of"])
    if filters["outcome"] in AuditEvent.Outcome.values:
        events = events.filter(outcome=filters["outcome"])
    for key, bound, lookup in (("since", time.min, "gte"), ("until", time.max, "lte")):
        if filters[key]:
            day = parse_date(filters[key]) if len(filters[key]) == 10 else None
            if day is None:
                errors.append(f"'{key}' must be a date such as 2026-01-31.")
                continue
            moment = timezone.make_aware(datetime.combine(day, bound))
            events = events.filter(**{f"occurred_at__{lookup}": moment})
    return events, filters, errors


@require_GET
@role_required(Role.ADMIN)
def audit_log(request: PortalRequest) -> HttpResponse:
    events, filters, errors = _filtered(request)
    page = Paginator(events.order_by("-occurred_at", "-id"), 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "console/audit_log.html",
        {
            "page": page,
            "entries": [_entry(event) for event in page],
            "filters": filters,
            "errors": errors,
            "actions": sorted(audit.ACTIONS.items()),
            "outcomes": AuditEvent.Outcome.choices,
            "query": query.urlencode(),
        },
        status=400 if errors else 200,
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


# A cell starting with one of these is a formula (or becomes one) in Excel, LibreOffice and
# Google Sheets: OWASP's CSV injection guidance quotes it with a leading apostrophe.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _inert(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return f"'{value}"
    return value


def _cell(event: AuditEvent, column: str) -> object:
    """One CSV cell: dates in ISO 8601, details as JSON, nothing as an empty field."""
    value = getattr(event, column)
    if column == "details":
        return audit.details_json(value)
    if column == "occurred_at":
        return value.isoformat()
    return "" if value is None else value


def _rows(events: QuerySet[AuditEvent]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for event in events.order_by("occurred_at", "id").iterator(chunk_size=2000):
        yield writer.writerow([_inert(_cell(event, column)) for column in CSV_COLUMNS])


def _entry(event: AuditEvent) -> dict[str, object]:
    """What the page shows of one event: its label and its details as key/value pairs."""
    details = event.details if isinstance(event.details, dict) else {"value": event.details}
    return {
        "event": event,
        "label": audit.ACTIONS.get(event.action, ""),
        "details": [(key, audit.readable(value)) for key, value in sorted(details.items())],
    }


@require_GET
@role_required(Role.ADMIN)
def audit_csv(request: PortalRequest) -> HttpResponse | StreamingHttpResponse:
    events, _, errors = _filtered(request)
    if errors:
        return HttpResponse(" ".join(errors), status=400, content_type="text/plain")
    response = StreamingHttpResponse(_rows(events), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="lifeboat-audit.csv"'
    return response
