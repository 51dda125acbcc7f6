"""The sandbox tenant, mounted at /sandbox/ when SANDBOX_ENABLED.

login/ stands in for https://login.microsoftonline.com/, graph/ for
https://graph.microsoft.com/.
"""

from __future__ import annotations

from django.urls import include, path

from sandbox import viewer, views

app_name = "sandbox"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", include("sandbox.identity.urls")),
    path("graph/", include("sandbox.graph.urls")),
    path("mail/<uuid:user_id>/", viewer.mailbox, name="mailbox"),
    path("mail/<uuid:user_id>/folders/<str:folder_id>/", viewer.mailbox, name="mailbox-folder"),
    path("mail/<uuid:user_id>/messages/<str:message_id>/", viewer.message, name="message"),
    path("drives/<str:drive_id>/", viewer.drive, name="drive"),
    path("drives/<str:drive_id>/items/<str:item_id>/", viewer.drive, name="drive-folder"),
]
