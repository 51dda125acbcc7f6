from __future__ import annotations

from django.urls import path

from authflow import views

app_name = "authflow"

urlpatterns = [
    path("sign-in", views.sign_in, name="sign-in"),
    path("sign-in/code", views.start_device_code, name="start-device-code"),
    path("sign-in/code/<uuid:code>", views.device_code, name="device-code"),
    path("sign-in/code/<uuid:code>/cancel", views.cancel_device_code, name="cancel-device-code"),
    path("sign-in/microsoft", views.start_browser, name="start-browser"),
    path("callback", views.callback, name="callback"),
    path("link", views.link, name="link"),
    path("sign-out", views.sign_out, name="sign-out"),
    path("profile", views.profile, name="profile"),
    path("profile/forget-tokens", views.forget_tokens, name="forget-tokens"),
    path("profile/time-zone", views.set_time_zone, name="time-zone"),
    path("profile/sign-out-everywhere", views.sign_out_everywhere, name="sign-out-everywhere"),
]
