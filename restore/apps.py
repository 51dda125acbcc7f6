from __future__ import annotations

import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class RestoreConfig(AppConfig):
    name = "restore"
    verbose_name = "Backups and restores"

    def ready(self) -> None:
        # Registers the Celery tasks and connects the receivers that queue them
        # (restore/jobs/signals.py), in web processes too. Imported here, not at the top: they
        # import models, which the app registry is not ready for when this module loads.
        from portal import health
        from restore import metrics
        from restore.backup import tasks  # noqa: F401
        from restore.catalog import content
        from restore.catalog import tasks as content_tasks  # noqa: F401
        from restore.jobs import tasks as job_tasks  # noqa: F401

        _check_blob_keys()
        metrics.register()
        # /healthz lives in portal, which imports nothing of restore: it asks its registry.
        health.register("content", content.healthz)


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
    finally:
        # gunicorn's master checks before it forks: each process makes its own client.
        blob_store.cache_clear()
    if problem:
        raise ConfigurationError(problem)
