"""Restore pages: browsing and searching backups (browse_urls), restore jobs (job_urls)."""

from __future__ import annotations

from restore import browse_urls, job_urls

app_name = "restore"

urlpatterns = [*browse_urls.urlpatterns, *job_urls.urlpatterns]
