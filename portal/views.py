from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu import Connection

from portal import health
from portal.http import PortalRequest
from portal.models import WorkerHeartbeat

logger = logging.getLogger(__name__)


@require_GET
def home(request: PortalRequest) -> HttpResponse:
    return render(request, "portal/home.html")


def _probe(check: Callable[[], None]) -> dict[str, Any]:
    started = time.monotonic()
    try:
        check()
    except Exception as exc:  # a health check reports every failure, whatever its type
        logger.warning("Health check %s failed: %s", check.__name__, type(exc).__name__)
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "latency_ms": round((time.monotonic() - started) * 1000, 1)}


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _broker() -> None:
    url = settings.CELERY_BROKER_URL
    options = dict(settings.CELERY_BROKER_TRANSPORT_OPTIONS)
    if url.startswith(("redis", "rediss", "unix")):
        options |= {"socket_connect_timeout": 2, "socket_timeout": 2, "max_retries": 0}
    with Connection(url, connect_timeout=2, transport_options=options) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=2)
        # Opening a channel makes the transport talk to the server (Redis PINGs).
        conn.default_channel  # noqa: B018


def _workers() -> list[dict[str, Any]]:
    now = timezone.now()
    return [
        {"hostname": beat.hostname, "seen_seconds_ago": round((now - beat.seen_at).total_seconds())}
        for beat in WorkerHeartbeat.objects.order_by("-seen_at")[:20]
    ]


def _registered(name: str, check: health.Check) -> dict[str, Any]:
    try:
        return check()
    except Exception as exc:  # a health check reports every failure, whatever its type
        logger.warning("Health check %s failed: %s", name, type(exc).__name__)
        return {"ok": False, "status": "degraded", "error": type(exc).__name__}


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Reachability of the database and the broker: 200 when both answer, 503 otherwise."""
    database = _probe(_database)
    broker = _probe(_broker)
    healthy = database["ok"] and broker["ok"]
    body: dict[str, Any] = {
        "status": "ok" if healthy else "unavailable",
        "database": database,
        "broker": broker,
    }
    if database["ok"]:
        body["workers"] = _workers()
        # Missing or corrupt content, an unreachable or read-only blob store: degraded
        # (200), since sign-in, browse and most of the portal still work. The checks are
        # registered by the apps above portal (restore/apps.py), see portal/health.py.
        for name, check in health.checks().items():
            body[name] = _registered(name, check)
            if healthy and not body[name]["ok"]:
                body["status"] = "degraded"
    return JsonResponse(body, status=200 if healthy else 503)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "400.html", status=400)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "403.html", status=403)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    try:
        return render(request, "500.html", status=500)
    except Exception:  # the error page must never fail itself
        logger.exception("Rendering the 500 page failed")
        return HttpResponse(
            "Something went wrong on our side. Please try again in a moment.",
            content_type="text/plain",
            status=500,
        )


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return render(request, "403_csrf.html", status=403)
