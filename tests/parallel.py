"""Running the suite on several pytest-xdist workers, each with its own Redis.

Every xdist worker already gets its own test database (pytest-django adds `_gw0`, `_gw1`
to the name), its own live server on a free port, its own blob store (tmp_path) and its
own Celery worker process. Redis is the one thing they would share: the Celery queue (a
task sent by one worker's tests must reach that worker's Celery process, which reads that
worker's database) and the cache, which tests clear with FLUSHDB. So the controller
starts one throw-away `redis-server` per xdist worker on a free port and hands each
worker its URL as REDIS_URL, before the worker loads Django's settings. Without
`redis-server` on PATH, worker N uses database number N above REDIS_URL's instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis

REDIS_DATABASES = 16


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis(workdir: str) -> tuple[subprocess.Popen[bytes], str]:
    """A private redis-server (no persistence) and its URL, once it answers."""
    port = free_port()
    command = [
        "redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
        "--appendonly", "no", "--dir", workdir, "--loglevel", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 20
    while True:
        try:
            redis.Redis.from_url(url).ping()
            return process, url
        except redis.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {port} did not start") from None
            time.sleep(0.05)


def shifted_database(url: str, offset: int) -> str:
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(base + offset) % REDIS_DATABASES}"))


class WorkerRedis:
    """The controller's side: one Redis per xdist worker, stopped when the run ends."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []

    def assign(self, specs: Sequence[Any]) -> None:
        workdir = tempfile.mkdtemp(prefix="lifeboat-test-redis-")
        for index, spec in enumerate(specs):
            if shutil.which("redis-server"):
                process, url = start_redis(workdir)
                self.processes.append(process)
            else:
                url = shifted_database(os.environ["REDIS_URL"], index)
            spec.env["REDIS_URL"] = url  # an execnet XSpec, which carries no types

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=10)
