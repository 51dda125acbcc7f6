"""The REST API, version 1, at /api/v1/: one NinjaAPI, one router per area.

Areas: token (OAuth-style token endpoint), me, helpdesk sign-ins, admin logged-in users,
the catalog (/objects, /items) and restore jobs (/restore-jobs). Every other path under
/api/ is a JSON 404, and a method a path does not take a JSON 405.
"""

from __future__ import annotations

from pathlib import Path

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import include, path
from ninja import NinjaAPI
from ninja.openapi.docs import Swagger

from api import (
    catalog,
    errors,
    logged_users,
    me,
    restore_jobs,
    restore_sessions,
    sign_ins,
    token,
)
from api.auth import BearerToken

api = NinjaAPI(
    title="Lifeboat API",
    version="1",
    description="Self-service restore portal for Microsoft 365 backups.\n\n"
    "**Getting a token.** Sign in once on the portal (so it holds your Microsoft tokens), "
    "then `POST /api/v1/token` with `grant_type=operator` and a Microsoft access token for "
    "the portal's API, or `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`; "
    "the answer's `access_token` goes in `Authorization: Bearer <access_token>` (the "
    "Authorize button here). Refresh with `grant_type=refresh_token`; end it with "
    "`POST /api/v1/token/logout`.\n\n"
    "The whole guide, with a walk-through that runs against the demo: "
    "[the API guide](/api/guide) (docs/api.md of your installation).",
    auth=BearerToken(),
    urls_namespace="api-v1",
    # Swagger UI from ninja's static files (no CDN, no inline script): it runs under the
    # site-wide CSP unchanged. No validator badge: it would call swagger.io.
    docs=Swagger(settings={"validatorUrl": None, "persistAuthorization": False}),
)
errors.install(api)
api.add_router("", token.router)
api.add_router("", me.router)
api.add_router("", sign_ins.router)
api.add_router("", logged_users.router)
api.add_router("", catalog.router)
api.add_router("", restore_jobs.router)
api.add_router("", restore_sessions.router)

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def guide(request: HttpRequest) -> HttpResponse:
    """docs/api.md as it ships with this installation (Swagger's description links it)."""
    if not GUIDE.is_file():
        raise Http404("The API guide is not part of this installation.")
    return HttpResponse(GUIDE.read_bytes(), content_type="text/markdown; charset=utf-8")


_patterns, _app_name, _namespace = api.urls
urlpatterns = [
    path("guide", guide, name="api-guide"),
    path("v1/", include((errors.json_errors_for_unrouted(api, _patterns), _app_name), _namespace)),
    *errors.json_errors_for_unrouted(api, [])[-1:],
]
