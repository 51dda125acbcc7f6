from __future__ import annotations

from django.urls import URLPattern, path

from restore import job_views

urlpatterns: list[URLPattern] = [
    path("backups/restore/", job_views.start, name="start-restore"),
    path("backups/jobs/", job_views.job_list, name="jobs"),
    path("backups/jobs/<uuid:job_id>/", job_views.job_detail, name="job"),
    path("backups/jobs/<uuid:job_id>/cancel", job_views.cancel, name="job-cancel"),
    path("backups/jobs/<uuid:job_id>/download", job_views.download, name="job-download"),
]
