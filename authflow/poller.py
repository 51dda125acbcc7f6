"""Polling pending device-code sign-ins without a worker slot per sign-in.

msal's `acquire_token_by_device_flow` blocks, sleeping between polls, until the person
signs in: one Celery slot per pending sign-in. Instead, one loop (a Celery task, see
tasks.run_poller) keeps every pending sign-in on schedule:

1. claim the sign-ins whose next poll is due (one UPDATE … WHERE id IN (… FOR UPDATE SKIP
   LOCKED) RETURNING the few columns a poll needs, so several loops on several workers
   share the work without polling anything twice);
2. send one token request for each from a small thread pool as soon as a thread is
   free (threads only do HTTP; the loop's thread does the database work);
3. record the answers of a batch in one UPDATE: the poll count and the next poll an
   interval (+ a small margin) after the answer came back, or finish the sign-in;
4. sleep until the next poll is due; stop when nothing is pending.

What a poll costs is kept small (docs/benchmarks.md): each device code is decrypted once
and kept in this worker's memory for the flow's life (`FlowCache`; it is checked against
the stored ciphertext on every claim, so a flow changed or re-keyed in the database is
read again); the flow is encrypted and written again only when what is stored changes (a
slow_down raised its interval); one msal app per thread and tenant is reused between
polls (flows.DevicePolls) over a lean HTTP client (portal.microsoft.LeanSession). The
database stays the truth: a worker that dies loses nothing but its memory, and its claims
lapse after CLAIM for another loop to take over.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ALL_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import close_old_connections, connection
from django.db.models import Min, Q
from django.utils import timezone

from authflow import encryption, flows, signins
from authflow.models import SignIn
from portal import logging as structured_logging
from portal.microsoft import lean_session

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

# Flows not claimed for this long are dropped from a worker's memory (ended elsewhere,
# cancelled, or claimed by another worker); device codes live 15 minutes.
FORGET_AFTER = 900.0

_local = threading.local()


def _device_polls() -> flows.DevicePolls:
    """One poller per pool thread: its HTTP connections and msal apps are kept between polls."""
    if not hasattr(_local, "polls"):
        _local.polls = flows.DevicePolls(lean_session())
    return _local.polls


class FlowCache:
    """Device flows this worker has decrypted, by sign-in, with the ciphertext each came
    from: a flow is decrypted again only when the stored ciphertext is not that one."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[bytes, dict[str, Any], float]] = {}

    def get(self, pk: int, ciphertext: bytes) -> dict[str, Any]:
        """Raises encryption.InvalidToken or ValueError when the flow cannot be read."""
        entry = self._entries.get(pk)
        if entry is not None and entry[0] == ciphertext:
            self._entries[pk] = (entry[0], entry[1], time.monotonic())
            return entry[1]
        flow = json.loads(encryption.decrypt(ciphertext))
        self.put(pk, ciphertext, flow)
        return flow

    def put(self, pk: int, ciphertext: bytes, flow: dict[str, Any]) -> None:
        self._entries[pk] = (ciphertext, flow, time.monotonic())

    def forget(self, pk: int) -> None:
        self._entries.pop(pk, None)

    def prune(self, older_than: float = FORGET_AFTER) -> None:
        cutoff = time.monotonic() - older_than
        for pk in [pk for pk, (_, _, used) in self._entries.items() if used < cutoff]:
            del self._entries[pk]

    def __len__(self) -> int:
        return len(self._entries)


_flows = FlowCache()


@dataclass
class LoopStats:
    polls: int = 0
    completed: int = 0
    ended: int = 0
    transient: int = 0
    by_error: dict[str, int] = field(default_factory=dict)


@dataclass
class Due:
    """A claimed sign-in: what one poll needs of its row, not the whole SignIn."""

    pk: int
    tenant: str
    expires_at: datetime
    interval: int
    polls: int
    transient_failures: int
    ciphertext: bytes
    flow: dict[str, Any] = field(default_factory=dict)


def pending() -> Q:
    return Q(status=SignIn.Status.PENDING, method=SignIn.Method.DEVICE_CODE)


# Claim and read in one statement. The subquery takes the due rows no other loop holds
# (the partial index signin_due_polls serves it); the claim keeps them this loop's until
# it records their answers, or for CLAIM if it dies first.
_CLAIM = """
UPDATE authflow_signin SET claimed_until = %(until)s
WHERE id IN (
    SELECT id FROM authflow_signin
    WHERE status = %(pending)s AND method = %(device_code)s AND next_poll_at <= %(now)s
      AND (claimed_until IS NULL OR claimed_until < %(now)s)
    ORDER BY next_poll_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
RETURNING id, tenant, expires_at, "interval", polls, transient_failures, flow_ciphertext,
    next_poll_at
"""


def claim_due(limit: int = BATCH) -> list[Due]:
    """Claim sign-ins whose poll is due (or that expired), oldest due first."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _CLAIM,
            {
                "until": now + CLAIM,
                "now": now,
                "limit": limit,
                "pending": SignIn.Status.PENDING.value,
                "device_code": SignIn.Method.DEVICE_CODE.value,
            },
        )
        rows = sorted(cursor.fetchall(), key=lambda row: row[7])
    return [
        Due(
            pk=row[0],
            tenant=row[1],
            expires_at=row[2],
            interval=row[3],
            polls=row[4],
            transient_failures=row[5],
            ciphertext=bytes(row[6]),
        )
        for row in rows
    ]


def _sign_ins(pks: list[int]) -> dict[int, SignIn]:
    """The whole rows, still pending, for the few polls that end a sign-in."""
    return {s.pk: s for s in SignIn.objects.filter(pending(), id__in=pks)} if pks else {}


def _poll(due: Due) -> flows.Poll:
    """One poll. Whatever goes wrong stays this sign-in's problem: an unexpected error
    (a bug, a CA bundle that went missing, msal refusing the authority) is logged with
    its traceback and the poll counts as transient, so it is retried with backoff and
    never ends the loop that polls every other pending sign-in."""
    try:
        return _device_polls().poll(due.flow, tenant=due.tenant)
    except Exception as exc:
        logger.exception("Device sign-in poll failed unexpectedly (%s)", type(exc).__name__)
        return flows.Poll(flows.PollOutcome.TRANSIENT, due.flow, error=type(exc).__name__)


def _next_poll_after(poll: flows.Poll) -> datetime:
    answered = datetime.fromtimestamp(poll.answered_at, tz=UTC)
    return answered + timedelta(seconds=int(poll.flow.get("interval", 5))) + signins.POLL_MARGIN


def submit(batch: list[Due], pool: ThreadPoolExecutor, in_flight: dict, stats: LoopStats) -> None:
    """Send one poll for each claimed sign-in (ending those that expired meanwhile)."""
    now = timezone.now()
    expired = [due.pk for due in batch if now >= due.expires_at]
    for sign_in in _sign_ins(expired).values():
        if signins.expire_if_due(sign_in):
            _flows.forget(sign_in.pk)
            stats.ended += 1
    unreadable = []
    for due in batch:
        if now >= due.expires_at:
            continue
        try:
            due.flow = _flows.get(due.pk, due.ciphertext)
        except (encryption.InvalidToken, ValueError):
            # Encrypted under a key this process does not hold (rotated out, or workers
            # configured unlike the web process): it can never be polled. End it, say
            # why, and go on with the others.
            logger.error("Device sign-in %s: its device code cannot be decrypted", due.pk)
            unreadable.append(due.pk)
            continue
        in_flight[pool.submit(_poll, due)] = due
    for sign_in in _sign_ins(unreadable).values():
        signins.end_unreadable_device_sign_in(sign_in)
        stats.ended += 1


def record(answered: list[tuple[Due, flows.Poll]], stats: LoopStats) -> None:
    """Persist what a set of polls learned: the next poll, or the end."""
    stats.polls += len(answered)
    final = (flows.PollOutcome.TOKENS, flows.PollOutcome.REFUSED)
    # Someone may have cancelled a sign-in while it was being polled: leave those alone
    # (the UPDATE below only touches rows still pending).
    ending = _sign_ins([due.pk for due, poll in answered if poll.outcome in final])
    now = timezone.now()
    updates = []
    for due, poll in answered:
        structured_logging.bind(sign_in=due.pk)  # on this sign-in's log lines
        if poll.error:
            stats.by_error[poll.error] = stats.by_error.get(poll.error, 0) + 1
        if poll.outcome in final:
            _flows.forget(due.pk)
            sign_in = ending.get(due.pk)
            if sign_in is None:
                continue
            if poll.outcome is flows.PollOutcome.TOKENS:
                signins.complete_device_sign_in(sign_in, poll.result or {}, poll.cache)
                logger.info("Device sign-in %s ended: %s", sign_in.pk, sign_in.status)
                stats.completed += 1
            else:
                signins.end_device_sign_in(
                    sign_in,
                    poll.error,
                    poll.description,
                    code_expires_at=poll.flow.get("expires_at"),
                )
                stats.ended += 1
            continue
        interval = int(poll.flow.get("interval", due.interval))
        ciphertext = None
        if interval != due.interval:
            # msal raised the interval (slow_down): that is the flow to keep, so a worker
            # taking over after a restart polls no faster. Otherwise what is stored stands.
            ciphertext = encryption.encrypt(json.dumps(poll.flow))
            _flows.put(due.pk, ciphertext, poll.flow)
        message = ""
        failures = 0
        if poll.outcome is flows.PollOutcome.PENDING:
            next_poll_at = _next_poll_after(poll)
        else:  # transient: Retry-After when given, else exponential backoff
            stats.transient += 1
            if due.transient_failures == 0:
                # Once per run of failures, so a sign-in left pending says why in the log.
                logger.warning("Device sign-in %s: poll failed (%s), retrying", due.pk, poll.error)
            failures = due.transient_failures + 1
            delay = poll.retry_after
            if delay is None:
                delay = min(MAX_BACKOFF, interval * 2**failures)
            next_poll_at = now + timedelta(seconds=delay)
            if poll.error == "TLSFailure":
                # Not an outage: the host's certificate is not trusted. Say so, by name.
                logger.error("Device sign-in %s: %s", due.pk, poll.description)
                message = f"{poll.description} Trying again in {round(delay)} s."[:500]
            else:
                message = (
                    "Microsoft's sign-in service is not answering right now; "
                    f"trying again in {round(delay)} s."
                )
        updates.append(
            (due.pk, due.polls + 1, interval, failures, message, next_poll_at, ciphertext)
        )
    structured_logging.unbind("sign_in")
    _save_polls(updates)


# What the polls of a batch change, in one UPDATE from arrays: one statement and one
# round trip per batch, where an UPDATE per row (even pipelined) or Django's bulk_update
# (a CASE per field and row) cost more CPU than the polls themselves. The ciphertext is
# written only where it changed (NULL keeps the stored one).
_SAVE_POLLS = """
UPDATE authflow_signin AS s SET
    polls = v.polls, claimed_until = NULL, "interval" = v.poll_interval,
    transient_failures = v.transient_failures, message = v.message,
    next_poll_at = v.next_poll_at, flow_ciphertext = COALESCE(v.ciphertext, s.flow_ciphertext)
FROM unnest(
    %s::bigint[], %s::integer[], %s::integer[], %s::integer[], %s::text[],
    %s::timestamptz[], %s::bytea[]
) AS v(id, polls, poll_interval, transient_failures, message, next_poll_at, ciphertext)
WHERE s.id = v.id AND s.status = %s
"""


def _save_polls(updates: list[tuple]) -> None:
    if not updates:
        return
    columns = [list(column) for column in zip(*updates, strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(_SAVE_POLLS, [*columns, SignIn.Status.PENDING.value])


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
    in_flight: dict[Future[flows.Poll], Due] = {}
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
    _flows.prune()
    return stats
