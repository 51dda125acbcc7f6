from __future__ import annotations

from django.urls import URLPattern, path

from restore.jobs import views

urlpatterns: list[URLPattern] = [
    path("backups/restore/", views.start, name="start-restore"),
    path("backups/restore/plan", views.plan, name="plan-restore"),
    path("backups/selection/restore", views.start_basket, name="start-basket"),
    path("backups/jobs/", views.job_list, name="jobs"),
    path("backups/jobs/<uuid:job_id>/", views.job_detail, name="job"),
    path("backups/jobs/<uuid:job_id>/cancel", views.cancel, name="job-cancel"),
    path("backups/jobs/<uuid:job_id>/download", views.download, name="job-download"),
    path("backups/restore-requests/", views.requests_list, name="restore-requests"),
    path("backups/restore-requests/<uuid:job_id>/", views.request_detail, name="restore-request"),
    path(
        "backups/restore-requests/<uuid:job_id>/answer",
        views.request_answer,
        name="restore-request-answer",
    ),
]
