from __future__ import annotations

from django.urls import path

from authflow import helpdesk

app_name = "helpdesk"

urlpatterns = [
    path("", helpdesk.home, name="home"),
    path("sign-ins", helpdesk.start, name="start"),
    path("sign-ins/<uuid:code>", helpdesk.sign_in_detail, name="sign-in"),
    path("sign-ins/<uuid:code>/cancel", helpdesk.cancel, name="cancel"),
    path("sign-ins/<uuid:code>/link", helpdesk.link_instead, name="link-instead"),
]
