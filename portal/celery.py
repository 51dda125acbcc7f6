"""The Celery app of the worker and beat processes.

Besides the app itself, this wires what every worker does on its own: a configuration
error ends start-up with the same one line as manage.py; each task's log lines carry the
task and the job, object or sign-in it works on; each worker records its own heartbeat
(portal/health.py) and, with METRICS_WORKER_PORT set, serves its Prometheus counters.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
from typing import Any

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

logger = logging.getLogger(__name__)

# Task parameters whose value names the work, and the log field that carries it.
_CONTEXT_PARAMETERS = {
    "job_id": "restore_job",
    "object_id": "backup_object",
    "sign_in_id": "sign_in",
    "point_id": "backup_run",
}


class _DjangoSettings:
    """django.conf.settings for Celery, but a configuration error ends the process with
    one line naming the variable instead of a traceback from inside Celery's CLI."""

    def _settings(self) -> Any:
        import django
        from django.apps import apps
        from django.conf import settings

        from portal.env import ConfigurationError

        try:
            settings.LIFEBOAT_MODE  # noqa: B018  (loads the settings once)
            if not (apps.ready or apps.loading):
                # The apps check what the settings alone cannot (restore: do the blob keys
                # open the store?); here, not in Celery's own django.setup(), so a bad key
                # is the same one line as a bad variable.
                django.setup()
        except ConfigurationError as exc:
            sys.exit(f"Lifeboat configuration error: {exc}")
        return settings

    def __getattr__(self, name: str) -> Any:
        return getattr(self._settings(), name)

    def __dir__(self) -> list[str]:
        return dir(self._settings())


django_settings = _DjangoSettings()

app = Celery("portal")
# All Celery settings live in portal/settings.py as CELERY_* names.
app.config_from_object("portal.celery:django_settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.task_prerun.connect
def _bind_task_context(task_id: str, task: Any, args: tuple, kwargs: dict, **_: Any) -> None:
    from portal import logging as structured_logging

    structured_logging.clear()
    ids: dict[str, object] = {"task": task.name, "task_id": task_id}
    try:
        bound = inspect.signature(task.run).bind_partial(*(args or ()), **(kwargs or {}))
    except TypeError:
        bound = None
    if bound is not None:
        for parameter, field in _CONTEXT_PARAMETERS.items():
            if parameter in bound.arguments:
                ids[field] = bound.arguments[parameter]
    structured_logging.bind(**ids)


@signals.task_postrun.connect
def _clear_task_context(**_: Any) -> None:
    from portal import logging as structured_logging

    structured_logging.clear()


@signals.worker_ready.connect
def _worker_ready(sender: Any, **_: Any) -> None:
    from django.conf import settings

    from portal import health

    health.start_heartbeats(sender)
    if settings.METRICS_WORKER_PORT:
        from prometheus_client import start_http_server

        import portal.metrics  # noqa: F401  (defines the counters this worker updates)

        start_http_server(settings.METRICS_WORKER_PORT, addr=settings.METRICS_WORKER_ADDRESS)
        logger.info("Worker metrics on port %s", settings.METRICS_WORKER_PORT)


@signals.worker_shutdown.connect
def _worker_shutdown(sender: Any, **_: Any) -> None:
    from portal import health

    health.forget_worker(sender.hostname)
