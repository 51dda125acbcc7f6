"""Outlook's service limits, per app and mailbox: 4 requests at once, 10,000 per 10 minutes.

Limits come from sandbox.models.Policy so a test can shrink them while the server runs.
Counters live in the Django cache because web workers, the test live server and Celery
all serve the same tenant from different processes: on Redis (tests, production)
`incr` is atomic, so the counts are exact across processes. The demo's file-based cache
implements `incr` as read-then-write under no lock, so concurrent processes can lose an
increment there: the demo throttles approximately, which is all it needs. Within one
process (a `$batch` runs its requests on threads) a lock keeps the counts exact even on
the file cache, whose `incr` would otherwise lose updates and leave slots taken.

Like Graph, a throttled request still counts towards the window (usage keeps counting
while a client is throttled), and the 429 carries Retry-After in seconds.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from django.core.cache import cache

from sandbox.graph.errors import GraphError
from sandbox.models import Policy

EPOCH_KEY = "sandbox:graph:throttle-epoch"
# A request that dies without releasing its slot must not hold it forever.
SLOT_TTL = 120
_COUNTING = threading.Lock()


def new_epoch() -> None:
    """Forget every counter (sandbox reset): keys carry the epoch, old ones just expire."""
    cache.set(EPOCH_KEY, uuid.uuid4().hex, None)


def _epoch() -> str:
    epoch = cache.get(EPOCH_KEY)
    if epoch is None:
        epoch = uuid.uuid4().hex
        if not cache.add(EPOCH_KEY, epoch, None):
            epoch = cache.get(EPOCH_KEY, epoch)
    return epoch


def _increment(key: str, timeout: int) -> int:
    with _COUNTING:
        cache.add(key, 0, timeout)
        try:
            return cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout)
            return 1


def throttled(limit: str, retry_after: int) -> GraphError:
    return GraphError(
        429,
        "ApplicationThrottled",
        f"Application is over its {limit} limit.",
        headers={"Retry-After": str(max(1, retry_after))},
    )


@contextmanager
def mailbox_slot(app_id: str, mailbox_id: str) -> Iterator[None]:
    """Hold one of the app's concurrent-request slots on this mailbox while a request runs."""
    policy = Policy.current()
    if not policy.throttling_enabled:
        yield
        return
    base = f"sandbox:graph:{_epoch()}:{app_id}:{mailbox_id}"
    window = max(1, policy.mailbox_window_seconds)
    now = time.time()
    window_index = int(now // window)
    used = _increment(f"{base}:window:{window_index}", window + 5)
    if used > policy.mailbox_requests_per_window:
        raise throttled("MailboxRequests", int((window_index + 1) * window - now) + 1)
    slots = f"{base}:concurrent"
    in_flight = _increment(slots, SLOT_TTL)
    try:
        if in_flight > policy.mailbox_concurrency:
            raise throttled("MailboxConcurrency", 1)
        yield
    finally:
        with _COUNTING, suppress(ValueError):  # the slot counter expired meanwhile
            cache.decr(slots)
