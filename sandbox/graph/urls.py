"""/sandbox/graph/ stands in for https://graph.microsoft.com/ (and for the SharePoint hosts
that serve download and upload URLs)."""

from __future__ import annotations

from django.urls import path

from sandbox.graph import attachment_upload, drive, todo, views

urlpatterns = [
    path("v1.0/<path:path>", views.dispatch, name="graph"),
    path("download/<str:token>", drive.download_content, name="graph-download"),
    path("upload/<str:session_id>", drive.upload_session, name="graph-upload"),
    path("attachment-upload/<str:session_id>", todo.upload, name="graph-attachment-upload"),
    # Outlook messages' large attachments (attachment_upload.py; the charge against the
    # mailbox's upload budget is per range), and To Do tasks' and events' (todo.py).
    path(
        "message-attachment-upload/<str:session_id>",
        attachment_upload.upload,
        name="graph-message-attachment-upload",
    ),
]
