"""Outlook's and SharePoint's service limits, as Microsoft documents them (docs/sandbox.md).

Outlook, per app and mailbox: 4 requests at once, 10,000 requests in any 10-minute period,
150 MB uploaded (the bodies of PATCH, POST and PUT) in any 5-minute period. SharePoint
(every drive and site route), per app and tenant: resource units in any minute and in any
24 hours, each request costing what Microsoft's table says (`resource_units`).

Microsoft says "in a 10 minute period" and does not say windows start on the clock, so
the windows slide: usage is counted in BUCKETS buckets per window and a request sees the
sum of the last BUCKETS + 1 of them (the current, partial one included). That covers at
least the whole window, so no window-long span ever lets more than the limit through,
and a client can never win by starting just before a boundary; the price is that usage
leaves the count up to one bucket (a 60th of the window) late. Retry-After is when
enough of the oldest buckets will have left the window for the request to pass.

Limits come from sandbox.models.Policy so a test can shrink them while the server runs.
Counters live in the Django cache because web workers, the test live server and Celery
all serve the same tenant from different processes: on Redis (tests, production)
`incr` is atomic, so the counts are exact across processes. The demo's file-based cache
implements `incr` as read-then-write under no lock, so concurrent processes can lose an
increment there: the demo throttles approximately, which is all it needs. Within one
process (a `$batch` runs its requests on threads) a lock keeps the counts exact even on
the file cache, whose `incr` would otherwise lose updates and leave slots taken.

Like Graph and SharePoint, a throttled request still counts towards the request and
resource-unit windows (usage keeps counting while a client is throttled), and the 429
carries Retry-After in seconds. Bytes refused for the upload budget were not uploaded, so
they do not count.
"""

from __future__ import annotations

import math
import re
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
BUCKETS = 60
UPLOAD_METHODS = frozenset({"PATCH", "POST", "PUT"})
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


def _increment(key: str, timeout: int, amount: int = 1) -> int:
    with _COUNTING:
        cache.add(key, 0, timeout)
        try:
            return cache.incr(key, amount)
        except ValueError:  # expired between add and incr
            cache.add(key, amount, timeout)
            return amount


class SlidingWindow:
    """Usage of one limit (`key`) over the last `seconds`, in BUCKETS buckets."""

    def __init__(self, key: str, seconds: float, now: float) -> None:
        self.width = max(seconds, 0.001) / BUCKETS
        self.current = int(now // self.width)
        self.now = now
        self.key = f"{key}:{self.width:.6f}"
        self.ttl = math.ceil(seconds + 2 * self.width) + 5
        first = self.current - BUCKETS
        self._keys = [f"{self.key}:{index}" for index in range(first, self.current + 1)]

    def usage(self) -> list[int]:
        """Usage per bucket, oldest first, the current bucket last."""
        found = cache.get_many(self._keys)
        return [int(found.get(key) or 0) for key in self._keys]

    def add(self, amount: int) -> list[int]:
        """Count `amount` in the current bucket; the usage per bucket afterwards."""
        counts = self.usage()
        counts[-1] = _increment(self._keys[-1], self.ttl, amount)
        return counts

    def retry_after(self, counts: list[int], excess: int) -> int:
        """Whole seconds until `excess` of the counted usage has left the window, at most
        the window itself (what Graph would say: usage leaves a window-length after it
        happened; a bucket's may leave up to one bucket later, and a client that comes
        back early then meets one more short Retry-After)."""
        leaves = (self.current + BUCKETS + 1) * self.width
        freed = 0
        for offset, count in enumerate(counts):
            freed += count
            if freed >= excess:
                # Bucket `current - BUCKETS + offset` leaves the count when the current
                # bucket is `current + offset + 1`.
                leaves = (self.current + offset + 1) * self.width
                break
        return max(1, min(math.ceil(leaves - self.now), math.ceil(self.width * BUCKETS)))


def throttled(limit: str, retry_after: int) -> GraphError:
    return GraphError(
        429,
        "ApplicationThrottled",
        f"Application is over its {limit} limit.",
        headers={"Retry-After": str(max(1, retry_after))},
    )


def _count_requests(base: str, policy: Policy, now: float) -> None:
    window = SlidingWindow(f"{base}:requests", policy.mailbox_window_seconds, now)
    counts = window.add(1)
    used = sum(counts)
    if used > policy.mailbox_requests_per_window:
        excess = used - policy.mailbox_requests_per_window
        raise throttled("MailboxRequests", window.retry_after(counts, excess))


def _count_upload(base: str, policy: Policy, size: int, now: float) -> None:
    if size <= 0:
        return
    window = SlidingWindow(f"{base}:upload", policy.mailbox_upload_window_seconds, now)
    counts = window.usage()
    used = sum(counts)
    limit = policy.mailbox_upload_bytes_per_window
    # One request larger than the whole budget passes on an empty window (Outlook's own
    # size limits refuse what is too large); anything else waits for room.
    if used and used + size > limit:
        raise throttled("MailboxUpload", window.retry_after(counts, used + size - limit))
    window.add(size)


def charge_upload(app_id: str, mailbox_id: str, size: int) -> None:
    """Bytes sent to the mailbox outside a Graph route (an attachment's upload URL)."""
    policy = Policy.current()
    if not policy.throttling_enabled:
        return
    base = f"sandbox:graph:{_epoch()}:{app_id}:{mailbox_id}"
    now = time.time()
    _count_requests(base, policy, now)
    _count_upload(base, policy, size, now)


@contextmanager
def mailbox_slot(
    app_id: str, mailbox_id: str, method: str = "GET", upload_bytes: int = 0
) -> Iterator[None]:
    """Count a request against the app's limits on this mailbox and hold one of its
    concurrent-request slots while it runs. `upload_bytes`: the body of a PATCH, POST or
    PUT, which counts towards the upload budget."""
    policy = Policy.current()
    if not policy.throttling_enabled:
        yield
        return
    base = f"sandbox:graph:{_epoch()}:{app_id}:{mailbox_id}"
    now = time.time()
    _count_requests(base, policy, now)
    if method.upper() in UPLOAD_METHODS:
        _count_upload(base, policy, upload_bytes, now)
    slots = f"{base}:concurrent"
    in_flight = _increment(slots, SLOT_TTL)
    try:
        if in_flight > policy.mailbox_concurrency:
            raise throttled("MailboxConcurrency", 1)
        yield
    finally:
        with _COUNTING, suppress(ValueError):  # the slot counter expired meanwhile
            cache.decr(slots)


# --- SharePoint ---------------------------------------------------------------------------

_PERMISSIONS = re.compile(r"/permissions(/|$)|/invite$|/grant$")
_SINGLE_ITEM = re.compile(r"(/items/[^/]+|/root|:/[^/]*:?|/drive|/drives/[^/]+|/sites/[^/]+)$")
DAY_SECONDS = 24 * 3600


def resource_units(method: str, path: str, query: dict[str, str]) -> int:
    """What a Graph request costs in SharePoint resource units (Microsoft's table):
    5 for permission operations (and `$expand=permissions`), 1 for a single item, a delta
    with a token, or a file's content, 2 for anything else (lists, a delta without a
    token, create, update, delete, upload)."""
    path = path.split("?", 1)[0].rstrip("/")
    expand = query.get("$expand", "") or query.get("expand", "")
    if _PERMISSIONS.search(path) or "permissions" in expand:
        return 5
    if method.upper() != "GET":
        return 2
    if path.endswith("/delta"):
        return 1 if "token" in query or "$deltatoken" in query or "$skiptoken" in query else 2
    if path.endswith("/content") or path.endswith("/$value") or _SINGLE_ITEM.search(path):
        return 1
    return 2


def charge_resource_units(app_id: str, tenant_id: str, units: int) -> None:
    """Count `units` against the app's SharePoint budget in this tenant: 429 over it."""
    policy = Policy.current()
    if not policy.throttling_enabled or not policy.sharepoint_throttling_enabled:
        return
    base = f"sandbox:sharepoint:{_epoch()}:{app_id}:{tenant_id}"
    now = time.time()
    limits = (
        ("ResourceUnitsPerMinute", policy.sharepoint_window_seconds, policy.sharepoint_units),
        ("ResourceUnitsPerDay", DAY_SECONDS, policy.sharepoint_units_per_day),
    )
    refusals = []
    for name, seconds, limit in limits:  # both count, as throttled requests do
        window = SlidingWindow(f"{base}:{seconds}", seconds, now)
        counts = window.add(units)
        if (used := sum(counts)) > limit:
            refusals.append((window.retry_after(counts, used - limit), name))
    if refusals:
        retry_after, name = max(refusals)
        raise throttled(name, retry_after)
