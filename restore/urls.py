"""Restore pages: browsing and searching backups (browse_urls), restore jobs (job_urls)."""

from __future__ import annotations

from restore.catalog import urls as catalog_urls
from restore.jobs import urls as job_urls

app_name = "restore"

urlpatterns = [*catalog_urls.urlpatterns, *job_urls.urlpatterns]
