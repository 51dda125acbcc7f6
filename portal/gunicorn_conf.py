"""Gunicorn settings for the web process (demo and containers alike).

The Django settings are loaded here, in the master, before any worker starts: a missing
or malformed variable ends start-up with the same one line as manage.py, instead of a
traceback from each worker. Gunicorn's own log lines go through the portal's logging
(JSON or text, redacted); the portal writes the access log itself (portal/middleware.py).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
# One directory for the metrics of every worker of this server (prometheus-client's
# multiprocess mode); fresh at each start.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _own_metrics_dir = False
    for _stale in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
        _stale.unlink()  # last run's values: prometheus-client wants them gone
else:
    _own_metrics_dir = True
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="lifeboat-metrics-")


def _settings() -> Any:
    import django
    from django.conf import settings

    from portal.env import ConfigurationError

    try:
        settings.LIFEBOAT_MODE  # noqa: B018  (loads and validates every variable)
        # And the apps, in the master, which check what the settings alone cannot
        # (restore: do the blob keys open the store?): one line, not a worker's traceback.
        django.setup()
    except ConfigurationError as exc:
        sys.exit(f"Lifeboat configuration error: {exc}")
    return settings


def _positive(name: str, default: int) -> int:
    from portal import env

    try:
        return env.integer(name, default, minimum=1)
    except env.ConfigurationError as exc:
        sys.exit(f"Lifeboat configuration error: {exc}")


_django = _settings()

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = _positive("GUNICORN_WORKERS", 2)
threads = _positive("GUNICORN_THREADS", 8)
timeout = 60
graceful_timeout = 20
accesslog = None  # written by the portal, with the request id and the view's timing
logconfig_dict = _django.LOGGING
limit_request_line = 8190
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Gunicorn 25+ opens a control socket in ~/.gunicorn by default; nothing here uses it, and
# a demo should write nothing outside its checkout.
control_socket_disable = True


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    if _own_metrics_dir:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
