"""Admin pages (namespace "console", under /admin/)."""

from __future__ import annotations

from django.urls import include, path

from authflow import people
from portal import audit_pages
from restore import content_pages

app_name = "console"

urlpatterns = [
    path("logged-in-users", people.logged_in_users, name="logged-in-users"),
    path("logged-in-users/<str:identity>/revoke", people.revoke, name="revoke"),
    path("logged-in-users/<str:identity>/re-login", people.re_login, name="re-login"),
    path("people", people.people, name="people"),
    path("people/<str:identity>/role", people.change_role, name="change-role"),
    path("audit", audit_pages.audit_log, name="audit"),
    path("audit.csv", audit_pages.audit_csv, name="audit-csv"),
    path("restore-scopes/", include("restore.operator_scope_urls")),
    path("backup-store", content_pages.backup_store, name="backup-store"),
]
