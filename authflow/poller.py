"""Polling pending device-code sign-ins without a worker slot per sign-in.

msal's `acquire_token_by_device_flow` blocks, sleeping between polls, until the person
signs in: one Celery slot per pending sign-in. Instead, one loop (a Celery task, see
tasks.run_poller) keeps every pending sign-in on schedule:

1. claim the sign-ins whose next poll is due (SKIP LOCKED + a short claim, so several
   loops on several workers share the work without polling anything twice);
2. send one token request for each from a small thread pool as soon as a thread is
   free (threads only do HTTP; the loop's thread does the database work);
3. persist each flow as msal left it and schedule the next poll an interval (+ a small
   margin) after the answer came back, or finish the sign-in;
4. sleep until the next poll is due; stop when nothing is pending.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ALL_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import close_old_connections, connection, transaction
from django.db.models import Min, Q
from django.utils import timezone

from authflow import encryption, flows, signins
from authflow.models import SignIn
from portal import logging as structured_logging
from portal.microsoft import MicrosoftSession, http_session

logger = logging.getLogger(__name__)

BATCH = 500
# Requests in flight at once. Polls mostly wait on the network, so threads are cheap; with
# 16 a slow token endpoint capped 10,000 pending sign-ins at 93 req/s, with 32 at 137 req/s
# for the same CPU per poll (docs/benchmarks.md).
THREADS = 32
CLAIM = timedelta(seconds=60)
MAX_IDLE_SLEEP = 1.0
TICK = 0.05
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
    """One poll. Whatever goes wrong stays this sign-in's problem: an unexpected error
    (a bug, a CA bundle that went missing, msal refusing the authority) is logged with
    its traceback and the poll counts as transient, so it is retried with backoff and
    never ends the loop that polls every other pending sign-in."""
    try:
        return flows.poll_device_flow(flow, tenant=tenant, session=_session())
    except Exception as exc:
        logger.exception("Device sign-in poll failed unexpectedly (%s)", type(exc).__name__)
        return flows.Poll(flows.PollOutcome.TRANSIENT, flow, error=type(exc).__name__)


def _next_poll_after(poll: flows.Poll) -> datetime:
    answered = datetime.fromtimestamp(poll.answered_at, tz=UTC)
    return answered + timedelta(seconds=int(poll.flow.get("interval", 5))) + signins.POLL_MARGIN


def submit(
    batch: list[SignIn], pool: ThreadPoolExecutor, in_flight: dict, stats: LoopStats
) -> None:
    """Send one poll for each claimed sign-in (ending those that expired meanwhile)."""
    for sign_in in batch:
        if signins.expire_if_due(sign_in):
            stats.ended += 1
            continue
        try:
            flow = json.loads(encryption.decrypt(sign_in.flow_ciphertext))
        except (encryption.InvalidToken, ValueError):
            # Encrypted under a key this process does not hold (rotated out, or workers
            # configured unlike the web process): it can never be polled. End it, say
            # why, and go on with the others.
            logger.error("Device sign-in %s: its device code cannot be decrypted", sign_in.pk)
            signins.end_unreadable_device_sign_in(sign_in)
            stats.ended += 1
            continue
        in_flight[pool.submit(_poll, flow, sign_in.tenant)] = sign_in


def record(answered: list[tuple[SignIn, flows.Poll]], stats: LoopStats) -> None:
    """Persist what a set of polls learned: the flow, the next poll, or the end."""
    stats.polls += len(answered)
    # Someone may have cancelled a sign-in while it was being polled: leave those alone.
    still_pending = set(
        SignIn.objects.filter(pending(), id__in=[s.pk for s, _ in answered]).values_list(
            "id", flat=True
        )
    )
    to_update = []
    now = timezone.now()
    for sign_in, poll in answered:
        structured_logging.bind(sign_in=sign_in.pk)  # on this sign-in's log lines
        if sign_in.pk not in still_pending:
            continue
        if poll.error:
            stats.by_error[poll.error] = stats.by_error.get(poll.error, 0) + 1
        if poll.outcome is flows.PollOutcome.TOKENS:
            signins.complete_device_sign_in(sign_in, poll.result or {}, poll.cache)
            logger.info("Device sign-in %s ended: %s", sign_in.pk, sign_in.status)
            stats.completed += 1
            continue
        if poll.outcome is flows.PollOutcome.REFUSED:
            signins.end_device_sign_in(
                sign_in, poll.error, poll.description, code_expires_at=poll.flow.get("expires_at")
            )
            stats.ended += 1
            continue
        sign_in.polls += 1
        sign_in.claimed_until = None
        sign_in.flow_ciphertext = encryption.encrypt(json.dumps(poll.flow))
        sign_in.interval = int(poll.flow.get("interval", sign_in.interval))
        if poll.outcome is flows.PollOutcome.PENDING:
            sign_in.transient_failures = 0
            sign_in.message = ""
            sign_in.next_poll_at = _next_poll_after(poll)
        else:  # transient: Retry-After when given, else exponential backoff
            stats.transient += 1
            if sign_in.transient_failures == 0:
                # Once per run of failures, so a sign-in left pending says why in the log.
                logger.warning(
                    "Device sign-in %s: poll failed (%s), retrying", sign_in.pk, poll.error
                )
            sign_in.transient_failures += 1
            delay = poll.retry_after
            if delay is None:
                delay = min(MAX_BACKOFF, sign_in.interval * 2**sign_in.transient_failures)
            sign_in.next_poll_at = now + timedelta(seconds=delay)
            if poll.error == "TLSFailure":
                # Not an outage: the host's certificate is not trusted. Say so, by name.
                logger.error("Device sign-in %s: %s", sign_in.pk, poll.description)
                sign_in.message = f"{poll.description} Trying again in {round(delay)} s."[:500]
            else:
                sign_in.message = (
                    "Microsoft's sign-in service is not answering right now; "
                    f"trying again in {round(delay)} s."
                )
        to_update.append(sign_in)
    structured_logging.unbind("sign_in")
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
    """Keep pending sign-ins polled on schedule for up to `max_seconds`.

    A pipeline, not batches: due sign-ins are sent as soon as a thread is free, and each
    answer is recorded as it comes, so one slow answer never holds back the others.
    """
    stats = LoopStats()
    deadline = time.monotonic() + max_seconds
    in_flight: dict[Future[flows.Poll], SignIn] = {}
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sign-in-poll") as pool:
        while time.monotonic() < deadline or in_flight:
            room = threads * 2 - len(in_flight)
            if room > 0 and time.monotonic() < deadline:
                submit(claim_due(min(room, BATCH)), pool, in_flight, stats)
            if in_flight:
                # Gather what answers within a short tick, so the database work is done
                # for many polls at once rather than one by one.
                done, _ = wait(in_flight, timeout=TICK, return_when=ALL_COMPLETED)
                if done:
                    record([(in_flight.pop(f), f.result()) for f in done], stats)
                continue
            due_in = next_due_in()
            if due_in is None:
                break
            close_old_connections()
            pause = min(MAX_IDLE_SLEEP, max(0.01, due_in), max(0.0, deadline - time.monotonic()))
            time.sleep(pause)
    return stats
