"""The REST API, version 1, at /api/v1/: one NinjaAPI, one router per area.

Areas: token (OAuth-style token endpoint), me, helpdesk sign-ins, admin logged-in users,
the catalog (/objects, /items) and restore jobs (/restore-jobs). Every other path under
/api/ is a JSON 404, and a method a path does not take a JSON 405.
"""

from __future__ import annotations

from django.urls import include, path
from ninja import NinjaAPI
from ninja.openapi.docs import Swagger

from api import catalog, errors, logged_users, me, restore_jobs, sign_ins, token
from api.auth import BearerToken

api = NinjaAPI(
    title="Lifeboat API",
    version="1",
    description="Self-service restore portal for Microsoft 365 backups. Get tokens with "
    "POST /api/v1/token (see docs/api.md), then send `Authorization: Bearer <access_token>`.",
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

_patterns, _app_name, _namespace = api.urls
urlpatterns = [
    path("v1/", include((errors.json_errors_for_unrouted(api, _patterns), _app_name), _namespace)),
    *errors.json_errors_for_unrouted(api, [])[-1:],
]
