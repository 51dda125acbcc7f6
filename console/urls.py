"""The admin console's pages (namespace "console", under /admin/)."""

from __future__ import annotations

from django.urls import path

from console import (
    audit_log,
    backup_store,
    delegated_backups,
    logged_in_users,
    people,
    restore_scopes,
    tenants,
    workers,
)

app_name = "console"

urlpatterns = [
    path("tenants/", tenants.tenant_list, name="tenants"),
    path("tenants/add", tenants.tenant_add, name="tenant-add"),
    path("tenants/consent", tenants.consent_return, name="tenant-consent"),
    path("tenants/<uuid:tenant_id>/", tenants.tenant_detail, name="tenant"),
    path("tenants/<uuid:tenant_id>/verify", tenants.tenant_verify, name="tenant-verify"),
    path("tenants/<uuid:tenant_id>/remove", tenants.tenant_remove, name="tenant-remove"),
    path("tenants/<uuid:tenant_id>/protect", tenants.tenant_protect, name="tenant-protect"),
    path(
        "tenants/<uuid:tenant_id>/backup-account",
        tenants.tenant_backup_account,
        name="tenant-backup-account",
    ),
    path("logged-in-users", logged_in_users.logged_in_users, name="logged-in-users"),
    path("logged-in-users/<str:identity>/revoke", logged_in_users.revoke, name="revoke"),
    path("logged-in-users/<str:identity>/re-login", logged_in_users.re_login, name="re-login"),
    path("people", people.people, name="people"),
    path("people/<str:identity>/role", people.change_role, name="change-role"),
    path("audit", audit_log.audit_log, name="audit"),
    path("audit.csv", audit_log.audit_csv, name="audit-csv"),
    path("workers", workers.workers, name="workers"),
    path("restore-scopes/", restore_scopes.scope_list, name="restore-scopes"),
    path("restore-scopes/add", restore_scopes.scope_add, name="restore-scope-add"),
    path(
        "restore-scopes/<int:grant_id>/delete",
        restore_scopes.scope_delete,
        name="restore-scope-delete",
    ),
    path("backup-store", backup_store.backup_store, name="backup-store"),
    path("delegated-backups", delegated_backups.delegated_backups, name="delegated-backups"),
    path(
        "delegated-backups/sign-in",
        delegated_backups.start_all,
        name="delegated-backups-start",
    ),
    path(
        "delegated-backups/<int:object_id>/sign-in",
        delegated_backups.start_one,
        name="delegated-backup-start",
    ),
]
