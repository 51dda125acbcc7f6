"""Template filters every page uses: one way to show a moment in time.

`{{ value|when }}` → <time datetime="2026-12-01T17:29:07+00:00">2026-12-01 18:29 CET</time>,
in the person's time zone (portal/middleware.py activates it); `{{ value|when:"seconds" }}`
adds the seconds where two moments may share a minute (restore points).
"""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()

FORMAT = "%Y-%m-%d %H:%M"


def _shown(value: datetime, precision: str) -> str:
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    shown = local.strftime(FORMAT + (":%S" if precision == "seconds" else ""))
    zone = local.strftime("%Z")
    return f"{shown} {zone}" if zone else shown


@register.filter
def when(value: datetime | None, precision: str = "") -> SafeString | str:
    """The moment as a <time> element, in the person's time zone."""
    if not isinstance(value, datetime):
        return ""
    return format_html('<time datetime="{}">{}</time>', value.isoformat(), _shown(value, precision))


@register.filter
def when_text(value: datetime | None, precision: str = "") -> str:
    """The same, as plain text (page titles, attributes)."""
    return _shown(value, precision) if isinstance(value, datetime) else ""
