"""Which failures of a restore are waited out, and which fail an item.

Every exception raised while restoring an item (or while recording its result) is
classified here:

- **transient**: the database connection was lost or a transaction hit a serialization
  failure, Redis is unavailable, the connection to Microsoft was reset or timed out,
  Graph answered 429 or a 5xx (with or without Retry-After), the token endpoint could not
  be reached. These are retried with capped exponential backoff and jitter (stamina),
  honouring Retry-After, until the retry budget (RESTORE_RETRY_BUDGET_SECONDS, measured
  in time from the first fault) runs out.
- **the job waits**: the backup store (restore/blobs) cannot be reached or is read-only.
  No item can be restored until it answers, so none is failed for it and none is retried
  item by item: the job goes back to the queue with the reason as its waiting_reason
  ("Waiting for the backup store: …") and tries again 30 seconds later.
- **permanent**: a 4xx that a retry cannot fix, content missing from the backup store or
  failing its authentication (restore/blobs/sealing.py), anything unexpected. The item
  fails at once, with the reason.

The runner looks an item up by its marker before sending it again, so a request that
reached Microsoft before its answer was lost is never sent twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis.exceptions
import requests
import stamina
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection

from authflow import tokens
from portal.graph import GraphError, GraphThrottled
from restore.blobs import BlobStoreUnavailable

logger = logging.getLogger(__name__)


# Backoff between attempts: 0.5 s, 1 s, 2 s, … capped at WAIT_MAX, plus up to 1 s jitter.
WAIT_INITIAL = 0.5
WAIT_MAX = 30.0
WAIT_JITTER = 1.0
# A Retry-After longer than this is still honoured, but only up to it at a time.
RETRY_AFTER_MAX = 120.0


def is_database_fault(exc: BaseException) -> bool:
    """Connection lost (terminated, reset, server restarted) or a serialization failure /
    deadlock: the same statement can succeed on a new connection or a new transaction."""
    return isinstance(exc, (OperationalError, InterfaceError))


def graph_status_is_transient(status: int) -> bool:
    return status in (408, 429) or status >= 500


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, GraphError):
        return isinstance(exc, GraphThrottled) or graph_status_is_transient(exc.status)
    if isinstance(exc, tokens.TokensUnavailable):
        return True
    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return True
    if isinstance(exc, (ConnectionError, TimeoutError)):  # ConnectionResetError and kin
        return True
    if isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
        return True
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):  # answer cut off
        return True
    return is_database_fault(exc)


def job_waits(exc: BaseException) -> bool:
    """The whole job waits for this (the backup store), rather than an item failing."""
    return isinstance(exc, BlobStoreUnavailable)


def describe(exc: BaseException) -> str:
    """A sentence for the job log: what went wrong, never a token or a URL with one."""
    if isinstance(exc, BlobStoreUnavailable):
        return str(exc)  # names the store (no credentials are ever in BLOB_STORE_URL)
    if isinstance(exc, GraphError):
        return f"Microsoft 365 answered {exc.status} {exc.code}"
    if isinstance(exc, tokens.TokensUnavailable):
        return "Microsoft's sign-in service could not be reached"
    if isinstance(exc, (requests.ConnectionError, ConnectionError)):
        return "the connection to Microsoft 365 was lost"
    if isinstance(exc, (requests.Timeout, TimeoutError)):
        return "Microsoft 365 did not answer in time"
    if isinstance(exc, redis.exceptions.RedisError):
        return "Redis could not be reached"
    if isinstance(exc, DatabaseError):
        return "the database connection was lost"
    return type(exc).__name__


def _retry_after(exc: BaseException) -> float | None:
    if isinstance(exc, GraphThrottled) and exc.retry_after is not None:
        return min(exc.retry_after, RETRY_AFTER_MAX)
    return None


def _backoff_hook(exc: Exception) -> bool | float:
    """stamina's `on`: False = don't retry; True = the exponential backoff; a number =
    wait exactly that long (Graph's Retry-After)."""
    if not is_transient(exc):
        return False
    if is_database_fault(exc) and not connection.in_atomic_block:
        # The connection is unusable: drop it, the next query opens a new one.
        connection.close()
    return _retry_after(exc) or True


@dataclass
class Budget:
    """The time an item (or a job's bookkeeping) may spend waiting out faults."""

    seconds: float
    started: float | None = None  # time.monotonic() of the first fault

    @classmethod
    def default(cls) -> Budget:
        return cls(float(settings.RESTORE_RETRY_BUDGET_SECONDS))

    def remaining(self) -> float:
        if self.started is None:
            return self.seconds
        return max(0.0, self.seconds - (time.monotonic() - self.started))


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{round(seconds)} second{'s' if round(seconds) != 1 else ''}"
    return f"{round(seconds / 60)} minutes"


class BudgetExhausted(Exception):
    """Still failing after the retry budget: the item fails, saying so."""

    def __init__(self, cause: BaseException, seconds: float) -> None:
        super().__init__(f"Still failing after {_duration(seconds)} of retries: {describe(cause)}.")
        self.cause = cause


def call[T](fn: Callable[[], T], *, budget: Budget) -> T:
    """Run `fn`, retrying it on transient faults within `budget`.

    Raises a permanent exception at once, and BudgetExhausted (from the last fault) when
    the budget runs out. `fn` is called again from the start after each fault: whoever
    re-sends something must first look for what the last try may have done.
    """
    while True:
        try:
            for attempt in stamina.retry_context(
                on=_backoff_hook,
                attempts=None,
                timeout=max(budget.remaining(), 0.001),
                wait_initial=WAIT_INITIAL,
                wait_max=WAIT_MAX,
                wait_jitter=WAIT_JITTER,
            ):
                with attempt:
                    try:
                        return fn()
                    except Exception as exc:
                        if is_transient(exc):
                            if budget.started is None:
                                budget.started = time.monotonic()
                            logger.info("Transient fault, retrying: %s", describe(exc))
                        raise
        except Exception as exc:
            if not is_transient(exc):
                raise
            if budget.remaining() <= 0:
                raise BudgetExhausted(exc, budget.seconds) from exc
            # stamina's timeout counted from before the first fault: go round again.
    raise AssertionError("unreachable")
