from __future__ import annotations

import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class RestoreConfig(AppConfig):
    name = "restore"
    verbose_name = "Backups and restores"

    def ready(self) -> None:
        from authflow.signals import identity_signed_in

        identity_signed_in.connect(_resume_after_sign_in, dispatch_uid="restore-resume-jobs")
        _check_blob_keys()
        from restore import content_check

        content_check.register_metrics()


def _check_blob_keys() -> None:
    """Stop start-up, naming the variable, when the blob keys cannot read the store."""
    from portal.env import ConfigurationError
    from restore.blobs import BlobStoreUnavailable, blob_store

    try:
        problem = blob_store().key_problem()
    except BlobStoreUnavailable as error:
        # Not a configuration error: /healthz and the console report it, jobs wait.
        logger.warning("Blob keys not checked at start-up: %s", error)
        return
    if problem:
        raise ConfigurationError(problem)


def _resume_after_sign_in(sender: object, user: object, **kwargs: object) -> None:
    """Jobs that waited for this person's sign-in go on by themselves."""
    from restore import jobs

    jobs.requeue_waiting(user)  # type: ignore[arg-type]
