"""Optional error reporting (SENTRY_DSN): sentry-sdk with its Django and Celery
integrations, every event scrubbed by the same redaction as the logs before it leaves.

Sentry's own scrubbing (send_default_pii off) drops cookies, headers and user data it
knows about; `scrub` also redacts every string of the event (exception messages, local
variables, breadcrumbs, request data) with portal.logging.redact.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import sentry_sdk
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.integrations.logging import LoggingIntegration

from portal.logging import redact_value


def scrub[E: Mapping[str, Any]](event: E, _hint: dict[str, Any] | None = None) -> E:
    """before_send / before_send_transaction / before_breadcrumb: redact every string.
    Generic so that Sentry's Event and Breadcrumb types pass through as themselves."""
    return cast(E, redact_value(event))


def init(dsn: str, environment: str) -> None:
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[
            DjangoIntegration(),
            CeleryIntegration(),
            LoggingIntegration(event_level=None),  # errors reach Sentry as exceptions only
        ],
        send_default_pii=False,
        include_local_variables=False,  # local variables are where tokens live
        max_request_body_size="never",
        before_send=scrub,
        before_send_transaction=scrub,
        before_breadcrumb=scrub,
        traces_sample_rate=0,
    )
