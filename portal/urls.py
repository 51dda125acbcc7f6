from __future__ import annotations

from django.conf import settings
from django.urls import include, path

from portal import views

portal_patterns = [
    path("", views.home, name="home"),
]

urlpatterns = [
    path("", include((portal_patterns, "portal"))),
    path("healthz", views.healthz, name="healthz"),
    path("livez", views.livez, name="livez"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics_view, name="metrics"),
    path("auth/", include("authflow.urls")),
    path("helpdesk/", include("authflow.helpdesk_urls")),
    path("admin/", include("console.urls")),
    path("api/", include("api.urls")),
    path("", include("restore.urls")),
]

if settings.SANDBOX_ENABLED:
    urlpatterns.append(path("sandbox/", include("sandbox.urls")))

handler400 = "portal.views.bad_request"
handler403 = "portal.views.permission_denied"
handler404 = "portal.views.page_not_found"
handler500 = "portal.views.server_error"
