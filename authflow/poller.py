"""Polling pending device-code sign-ins without a worker slot per sign-in.

msal's `acquire_token_by_device_flow` blocks, sleeping between polls, until the person
signs in: one Celery slot per pending sign-in. Instead, one loop (a Celery task, see
tasks.run_poller) keeps every pending sign-in on schedule:

1. claim the sign-ins whose next poll is due (SKIP LOCKED + a short claim, so several
   loops on several workers share the work without polling anything twice);
2. send one token request for each, from a small thread pool (threads only do HTTP);
3. persist each flow as msal left it and schedule the next poll at
   latest_attempt_at + interval (+ a small margin), or finish the sign-in;
4. sleep until the next poll is due; stop when nothing is pending.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import close_old_connections, connection, transaction
from django.db.models import Min, Q
from django.utils import timezone

from authflow import encryption, flows, signins
from authflow.models import SignIn
from portal.microsoft import MicrosoftSession, http_session

logger = logging.getLogger(__name__)

BATCH = 500
THREADS = 16
CLAIM = timedelta(seconds=60)
MAX_IDLE_SLEEP = 1.0
MAX_BACKOFF = 60.0

_local = threading.local()


def _session() -> MicrosoftSession:
    """One HTTP session per pool thread: connections are kept alive between polls."""
    if not hasattr(_local, "session"):
        _local.session = http_session()
    return _local.session


@dataclass
class LoopStats:
    polls: int = 0
    completed: int = 0
    ended: int = 0
    transient: int = 0
    by_error: dict[str, int] = field(default_factory=dict)


def pending() -> Q:
    return Q(status=SignIn.Status.PENDING, method=SignIn.Method.DEVICE_CODE)


def claim_due(limit: int = BATCH) -> list[SignIn]:
    """Claim sign-ins whose poll is due (or that expired), oldest due first."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            SignIn.objects.select_for_update(skip_locked=True)
            .filter(pending(), next_poll_at__lte=now)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .order_by("next_poll_at")
            .values_list("id", flat=True)[:limit]
        )
        SignIn.objects.filter(id__in=ids).update(claimed_until=now + CLAIM)
    return list(SignIn.objects.filter(id__in=ids))


def _poll(flow: dict, tenant: str) -> flows.Poll:
    return flows.poll_device_flow(flow, tenant=tenant, session=_session())


def _next_poll_after(flow: dict) -> datetime:
    attempted = datetime.fromtimestamp(flow.get("latest_attempt_at", time.time()), tz=UTC)
    return attempted + timedelta(seconds=int(flow.get("interval", 5))) + signins.POLL_MARGIN


def poll_batch(batch: list[SignIn], pool: ThreadPoolExecutor, stats: LoopStats) -> None:
    live = [s for s in batch if not signins.expire_if_due(s)]
    stats.ended += len(batch) - len(live)
    flows_by_id = {s.pk: json.loads(encryption.decrypt(s.flow_ciphertext)) for s in live}
    results = list(pool.map(lambda s: _poll(flows_by_id[s.pk], s.tenant), live))
    stats.polls += len(results)

    # Someone may have cancelled a sign-in while it was being polled: leave those alone.
    still_pending = set(
        SignIn.objects.filter(pending(), id__in=[s.pk for s in live]).values_list("id", flat=True)
    )
    to_update = []
    now = timezone.now()
    for sign_in, poll in zip(live, results, strict=True):
        if sign_in.pk not in still_pending:
            continue
        if poll.error:
            stats.by_error[poll.error] = stats.by_error.get(poll.error, 0) + 1
        if poll.outcome is flows.PollOutcome.TOKENS:
            signins.complete_device_sign_in(sign_in, poll.result or {}, poll.cache)
            stats.completed += 1
            continue
        if poll.outcome is flows.PollOutcome.REFUSED:
            signins.end_device_sign_in(sign_in, poll.error, poll.description)
            stats.ended += 1
            continue
        sign_in.polls += 1
        sign_in.claimed_until = None
        sign_in.flow_ciphertext = encryption.encrypt(json.dumps(poll.flow))
        sign_in.interval = int(poll.flow.get("interval", sign_in.interval))
        if poll.outcome is flows.PollOutcome.PENDING:
            sign_in.transient_failures = 0
            sign_in.message = ""
            sign_in.next_poll_at = _next_poll_after(poll.flow)
        else:  # transient: Retry-After when given, else exponential backoff
            stats.transient += 1
            sign_in.transient_failures += 1
            delay = poll.retry_after
            if delay is None:
                delay = min(MAX_BACKOFF, sign_in.interval * 2**sign_in.transient_failures)
            sign_in.next_poll_at = now + timedelta(seconds=delay)
            sign_in.message = (
                "Microsoft's sign-in service is not answering right now; "
                f"trying again in {round(delay)} s."
            )
        to_update.append(sign_in)
    _save_polls(to_update)


# What each poll changes. One prepared UPDATE run for the whole batch (executemany is
# pipelined by psycopg): Django's bulk_update builds a CASE expression per field and
# row, which cost more CPU than the polls themselves at a few hundred polls a second.
_SAVE_POLL = (
    "UPDATE authflow_signin SET polls = %s, claimed_until = NULL, flow_ciphertext = %s, "
    "interval = %s, transient_failures = %s, message = %s, next_poll_at = %s "
    "WHERE id = %s AND status = 'pending'"
)


def _save_polls(sign_ins: list[SignIn]) -> None:
    if not sign_ins:
        return
    with connection.cursor() as cursor:
        cursor.executemany(
            _SAVE_POLL,
            [
                (
                    s.polls,
                    bytes(s.flow_ciphertext),
                    s.interval,
                    s.transient_failures,
                    s.message,
                    connection.ops.adapt_datetimefield_value(s.next_poll_at),
                    s.pk,
                )
                for s in sign_ins
            ],
        )


def next_due_in() -> float | None:
    """Seconds until the next poll is due; None when nothing is pending."""
    soonest = SignIn.objects.filter(pending()).aggregate(at=Min("next_poll_at"))["at"]
    if soonest is None:
        return None
    return (soonest - timezone.now()).total_seconds()


def run(*, max_seconds: float, threads: int = THREADS) -> LoopStats:
    """Keep pending sign-ins polled on schedule for up to `max_seconds`."""
    stats = LoopStats()
    deadline = time.monotonic() + max_seconds
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sign-in-poll") as pool:
        while time.monotonic() < deadline:
            batch = claim_due()
            if batch:
                poll_batch(batch, pool, stats)
                continue
            wait = next_due_in()
            if wait is None:
                break
            close_old_connections()
            time.sleep(min(MAX_IDLE_SLEEP, max(0.02, wait), max(0.0, deadline - time.monotonic())))
    return stats
