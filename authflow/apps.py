from __future__ import annotations

from django.apps import AppConfig


class AuthflowConfig(AppConfig):
    name = "authflow"
    verbose_name = "Sign-in and identities"

    def ready(self) -> None:
        # Registers the tasks and connects the receivers that queue them (authflow/signals.py),
        # in web processes too. Imported here, not at the top: it imports models, which the
        # app registry is not ready for when this module loads.
        from authflow import (
            metrics,
            tasks,  # noqa: F401
        )

        metrics.register()
