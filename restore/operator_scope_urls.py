"""Restore-operator scope admin pages, included in the "console" namespace (/admin/)."""

from __future__ import annotations

from django.urls import URLPattern, path

from restore import operator_scopes

urlpatterns: list[URLPattern] = [
    path("", operator_scopes.scope_list, name="restore-scopes"),
    path("add", operator_scopes.scope_add, name="restore-scope-add"),
    path("<int:grant_id>/delete", operator_scopes.scope_delete, name="restore-scope-delete"),
]
