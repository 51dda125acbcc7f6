"""Browsing and searching backups (namespace "restore"). Every view 404s outside the
person's scope; tests/restore/test_scope.py checks each pattern listed here."""

from __future__ import annotations

from django.urls import URLPattern, path

from restore.catalog import views

urlpatterns: list[URLPattern] = [
    path("backups/", views.my_backups, name="my-backups"),
    path("backups/refresh", views.refresh_scope, name="refresh-scope"),
    path("backups/objects/<int:object_id>/", views.object_detail, name="object"),
    path("backups/objects/<int:object_id>/deleted/", views.deleted_view, name="deleted"),
    path("backups/points/<int:point_id>/", views.point_detail, name="point"),
    path("backups/items/<int:item_id>/", views.item_detail, name="item"),
    path("backups/items/<int:item_id>/body", views.item_body, name="item-body"),
    path("backups/items/<int:item_id>/download", views.item_download, name="item-download"),
    path(
        "backups/items/<int:item_id>/attachments/<int:index>",
        views.attachment_download,
        name="attachment",
    ),
    path("backups/search/", views.search_view, name="search"),
    path("backups/selection/", views.basket_view, name="basket"),
    path("backups/selection/add", views.basket_add, name="basket-add"),
    path("backups/selection/remove", views.basket_remove, name="basket-remove"),
]
