"""Numbered pages for the API's plain lists (logged-in users, restore jobs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet


def numbered_page[T](
    rows: QuerySet[Any], page: int, page_size: int, out: Callable[[Any], T]
) -> dict[str, Any]:
    """One page of `rows` as {items, count, page, page_size}, items converted by `out`."""
    start = (page - 1) * page_size
    return {
        "items": [out(row) for row in rows[start : start + page_size]],
        "count": rows.count(),
        "page": page,
        "page_size": page_size,
    }
