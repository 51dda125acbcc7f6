from __future__ import annotations

import hmac
import ipaddress
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from portal import health, metrics
from portal.http import PortalRequest

logger = logging.getLogger(__name__)


@require_GET
def home(request: PortalRequest) -> HttpResponse:
    return render(request, "portal/home.html")


@require_GET
@never_cache
def livez(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Asks nothing else (a database outage must not make
    an orchestrator restart every web process)."""
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: this process can serve requests (database and broker answer)."""
    state, checks = health.run(health.READINESS)
    return JsonResponse({"status": state, **checks}, status=503 if state == "down" else 200)


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """The deployment: database, broker and live workers (each with its last heartbeat).
    200 when everything is ok or degraded, 503 when any check is down."""
    state, checks = health.run(health.CHECKS)
    return JsonResponse({"status": state, **checks}, status=503 if state == "down" else 200)


@require_GET
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics, for the networks in METRICS_ALLOWED_NETWORKS or a caller with
    METRICS_BEARER_TOKEN. Anyone else gets 404, as if there were nothing here."""
    if not _may_scrape(request):
        return HttpResponse(status=404)
    return HttpResponse(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)


def _may_scrape(request: HttpRequest) -> bool:
    token = settings.METRICS_BEARER_TOKEN
    scheme, _, supplied = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(supplied, token):
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)


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
