"""The REST API, version 1, at /api/v1/: one NinjaAPI, one router per area.

Areas: token (OAuth-style token endpoint), me, helpdesk sign-ins, admin logged-in users.
The catalog and restore areas (/objects, /items, /restore-jobs) add their routers here.
"""

from __future__ import annotations

from django.urls import path
from ninja import NinjaAPI
from ninja.openapi.docs import Swagger

from api import errors, logged_users, me, sign_ins, token
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

urlpatterns = [path("v1/", api.urls)]
