"""The sandbox tenant, mounted at /sandbox/ when SANDBOX_ENABLED.

login/ stands in for https://login.microsoftonline.com/, graph/ for
https://graph.microsoft.com/.
"""

from __future__ import annotations

from django.urls import include, path

from sandbox import views

app_name = "sandbox"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", include("sandbox.identity.urls")),
    path("graph/", include("sandbox.graph.urls")),
]
