from __future__ import annotations

from django.apps import AppConfig


class AuthflowConfig(AppConfig):
    name = "authflow"
    verbose_name = "Sign-in and identities"
