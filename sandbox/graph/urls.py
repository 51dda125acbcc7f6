"""/sandbox/graph/ stands in for https://graph.microsoft.com/ (and for the SharePoint hosts
that serve download and upload URLs)."""

from __future__ import annotations

from django.urls import path

from sandbox.graph import attachment_upload, drive, views

urlpatterns = [
    path("v1.0/<path:path>", views.dispatch, name="graph"),
    path("download/<str:token>", drive.download_content, name="graph-download"),
    path("upload/<str:session_id>", drive.upload_session, name="graph-upload"),
    path(
        "attachment-upload/<str:session_id>",
        attachment_upload.upload,
        name="graph-attachment-upload",
    ),
]
