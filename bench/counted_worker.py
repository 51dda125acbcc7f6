"""A Celery worker of the product whose Graph requests are counted, for bench/backup_throughput.py.

The worker is the product's own (`portal.celery.app`, the tasks of restore/); the only
addition is bench/restore_throughput.py's counter at the HTTP adapter, which here also adds
each request to a Redis hash (BENCH_COUNT_KEY) so the bench, in another process, reads the
totals of every worker process: requests by status and kind, requests inside `$batch`es
(Outlook counts them one by one) and bytes uploaded.

    .venv/bin/python bench/counted_worker.py --concurrency 4
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

COUNT_KEY = os.environ.get("BENCH_COUNT_KEY", "bench:graph-requests")


def main() -> None:
    import django

    django.setup()
    import redis
    from django.conf import settings

    from bench.restore_throughput import ClientCount
    from portal.celery import app

    client = redis.Redis.from_url(settings.REDIS_URL)

    class RedisCount(ClientCount):
        def record(self, request: Any, status: int) -> None:
            inner, uploaded = self.inner, self.uploaded
            super().record(request, status)
            kind = self.kind(request)
            pipe = client.pipeline()
            pipe.hincrby(COUNT_KEY, f"status:{status}", 1)
            pipe.hincrby(COUNT_KEY, f"kind:{kind}", 1)
            pipe.hincrby(COUNT_KEY, "inner", self.inner - inner)
            pipe.hincrby(COUNT_KEY, "uploaded", self.uploaded - uploaded)
            pipe.execute()

    RedisCount()
    app.worker_main(["worker", "--loglevel", "WARNING", *sys.argv[1:]])


if __name__ == "__main__":
    main()
