"""Request types for views (typing only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest

if TYPE_CHECKING:
    from django_htmx.middleware import HtmxDetails

    from authflow.models import User


class PortalRequest(HttpRequest):
    """A request that has been through the auth and htmx middleware."""

    user: User
    htmx: HtmxDetails
