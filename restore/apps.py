from __future__ import annotations

from django.apps import AppConfig


class RestoreConfig(AppConfig):
    name = "restore"
    verbose_name = "Backups and restores"

    def ready(self) -> None:
        from authflow.signals import identity_signed_in

        identity_signed_in.connect(_resume_after_sign_in, dispatch_uid="restore-resume-jobs")


def _resume_after_sign_in(sender: object, user: object, **kwargs: object) -> None:
    """Jobs that waited for this person's sign-in go on by themselves."""
    from restore import jobs

    jobs.requeue_waiting(user)  # type: ignore[arg-type]
