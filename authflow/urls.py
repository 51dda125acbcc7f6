from __future__ import annotations

from django.urls import path

from authflow import views

app_name = "authflow"

urlpatterns = [
    path("sign-in", views.sign_in, name="sign-in"),
]
