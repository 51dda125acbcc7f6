"""At most N requests in flight per mailbox, across every worker process.

Outlook allows 4 concurrent requests per app and mailbox; more get 429s that cost a
Retry-After each. Workers take a slot before each item and give it back after: a Redis
sorted set per mailbox holds the slots in use, scored by their lease expiry, so a slot
of a killed worker frees itself when its lease (RESTORE_SLOT_LEASE_SECONDS) runs out;
an item that outlives its lease at worst lets one more request through, which Graph
answers with a 429 and a Retry-After the client honours. Without Redis (the demo's single
worker) a process-wide semaphore does the same job.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import redis
from django.conf import settings

POLL_SECONDS = 0.05

# KEYS[1] the set; ARGV: slot id, now, lease expiry, limit. 1 if the slot was taken.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  redis.call('EXPIRE', KEYS[1], 600)
  return 1
end
return 0
"""


@cache
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


_local_lock = threading.Lock()
_local: dict[str, threading.BoundedSemaphore] = {}


def _local_semaphore(key: str, limit: int) -> threading.BoundedSemaphore:
    with _local_lock:
        if key not in _local:
            _local[key] = threading.BoundedSemaphore(limit)
        return _local[key]


@contextmanager
def slot(key: str, limit: int | None = None) -> Iterator[None]:
    """Hold one of the `limit` request slots of `key` (a mailbox) while in the block."""
    limit = limit or settings.RESTORE_CONCURRENCY_PER_MAILBOX
    if not settings.REDIS_URL:
        with _local_semaphore(key, limit):
            yield
        return
    client = _redis(settings.REDIS_URL)
    name = f"lifeboat:restore-slots:{key}"
    member = uuid.uuid4().hex
    script = client.register_script(_ACQUIRE)
    while True:
        now = time.time()
        expiry = now + settings.RESTORE_SLOT_LEASE_SECONDS
        if script(keys=[name], args=[member, now, expiry, limit]):
            break
        time.sleep(POLL_SECONDS)
    try:
        yield
    finally:
        client.zrem(name, member)
