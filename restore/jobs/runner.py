"""Running a restore job into Microsoft 365: claim, restore item by item, finish.

1. Claim the job with a conditional UPDATE (lifecycle.transition): from queued or
   waiting-for-sign-in, or from running when its worker stopped beating. The heartbeat
   timestamp written by the claim is the owner's token: each beat (every few seconds)
   only succeeds if the job still carries the last one, so a worker that lost the job to
   another stops at once, and two workers never restore the same job.
2. Check the person's delegated token and consent for the workload's scopes
   (portal/permissions.py). A missing sign-in → waiting-for-sign-in, a device-code
   sign-in for them started and its instructions in the log; a missing consent → failed,
   naming the scope.
3. Pending items, 100 at a time. Items that an earlier attempt may have created (attempts
   > 0) are first looked up by their marker, so nothing is created twice. The rest run
   on a few threads, each holding one of the mailbox's request slots (restore/jobs/throttle.py),
   and each item is marked done/skipped/failed in its own transaction as soon as Graph
   answers, so a killed worker loses at most the items in flight — which the marker
   lookup finds next time.
4. Verify: what earlier batches wrote is read back (restorer.verify, on a thread of its
   own while the next batch is written; the last batch's after it) and counted
   verified, or reported in the log as not matching the backup (or not readable); a
   resumed job also verifies what its predecessor wrote but did not get to read back.
5. Finish: completed, partially failed or failed by the item counts (an item that does
   not verify makes the job partially failed); cancelled if asked.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from authflow import principals, signins, tokens
from authflow.models import SignIn, TokenCache, User
from portal import audit, permissions
from portal.graph import GraphError
from restore.blobs import BlobCorrupt, BlobNotFound
from restore.jobs import faults, lifecycle, throttle
from restore.jobs.restorers import Outcome, Restorer, Verdict, restorer_for
from restore.jobs.signals import job_queued
from restore.models import ContentStatus, EntityKind, RestoreJob, RestoreJobItem, RestoreJobLog

logger = logging.getLogger(__name__)

S = RestoreJob.Status
HEARTBEAT_SECONDS = 3.0
CHUNK = 100
RETRY_UNAVAILABLE_SECONDS = 30
CONTENT_LOST = (
    "Content lost: the backup store no longer holds it and Microsoft 365 no longer has this "
    "version (found by verify_blobs)."
)


class Heartbeat(threading.Thread):
    """Beats for the job while it runs; notices a cancel request or a lost claim."""

    def __init__(self, job: RestoreJob, beat: datetime | None) -> None:
        super().__init__(name=f"heartbeat-{job.pk}", daemon=True)
        self.job_id = job.pk
        self.beat = beat
        self.done = threading.Event()
        self.lost = threading.Event()
        self.cancelled = threading.Event()

    def run(self) -> None:
        # Beat well within the time after which another worker may take the job over.
        interval = min(HEARTBEAT_SECONDS, settings.RESTORE_STALE_SECONDS / 3)
        try:
            while not self.done.wait(interval):
                self.tick()
        finally:
            connection.close()

    def tick(self) -> None:
        try:
            self._beat()
        except Exception as exc:
            if not faults.is_transient(exc):
                raise
            # The database blinked: skip this beat (the connection is reopened next time).
            # Missing beats for RESTORE_STALE_SECONDS lets another worker take over.
            logger.info("Restore job %s: heartbeat skipped (%s)", self.job_id, faults.describe(exc))
            connection.close()

    def _beat(self) -> None:
        now = timezone.now()
        mine = RestoreJob.objects.filter(pk=self.job_id, status=S.RUNNING, heartbeat_at=self.beat)
        if not mine.update(heartbeat_at=now):
            self.lost.set()
            return
        self.beat = now
        if RestoreJob.objects.filter(pk=self.job_id, cancel_requested=True).exists():
            self.cancelled.set()

    def stop(self) -> None:
        self.done.set()
        self.join()

    @property
    def should_stop(self) -> bool:
        return self.lost.is_set() or self.cancelled.is_set()


@dataclass
class Stop:
    """Why processing ended before every item was handled."""

    sign_in: tokens.SignInRequired | None = None
    unavailable: str = ""
    store_unavailable: str = ""  # the blob store could not be read: wait, retry
    event: threading.Event = field(default_factory=threading.Event)


def claim(job_id: UUID | str) -> RestoreJob | None:
    job = (
        RestoreJob.objects.filter(pk=job_id)
        .select_related("object", "user", "target_object", "writer")
        .first()
    )
    if job is None or job.target == RestoreJob.Target.DOWNLOAD:
        return None
    now = timezone.now()
    stale = now - timedelta(seconds=settings.RESTORE_STALE_SECONDS)
    claimable = ~Q(status=S.RUNNING) | Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=stale)
    if not lifecycle.transition(
        job,
        S.RUNNING,
        when=claimable & Q(cancel_requested=False),
        heartbeat_at=now,
        started_at=Coalesce(F("started_at"), Value(now)),
    ):
        if job.cancel_requested and not job.is_finished:
            lifecycle.transition(
                job, S.CANCELLED, when=Q(heartbeat_at__lt=stale) | ~Q(status=S.RUNNING)
            )
        return None
    job.heartbeat_at = now
    return job


def run(job_id: UUID | str) -> None:
    job = claim(job_id)
    if job is None:
        logger.info("Restore job %s is not claimable; nothing to do", job_id)
        return
    started = job.items_done + job.items_skipped + job.items_failed
    lifecycle.log(job, "Resumed." if started or job.log.count() > 1 else "Started.")
    heartbeat = Heartbeat(job, job.heartbeat_at)
    heartbeat.start()
    stop = Stop()
    failure = ""
    try:
        failure = _work(job, heartbeat, stop)
    finally:
        heartbeat.stop()
    _bookkeeping(lambda: _finish(job, heartbeat, stop, failure))


def missing_consent(user: User, scopes: tuple[str, ...]) -> list[str]:
    row = TokenCache.objects.filter(user=user, status=TokenCache.Status.VALID).first()
    if row is None or not row.scopes:
        return []  # no tokens at all: a sign-in is needed, which access_token says
    granted = {s.lower() for s in row.scopes}
    return [s for s in scopes if s.lower() not in granted]


def _work(job: RestoreJob, heartbeat: Heartbeat, stop: Stop) -> str:
    """Restore the pending items; returns why the whole job failed, or ""."""
    obj, person = job.destination, job.acting_user
    requirement = permissions.requirement(obj.workload, obj.entity, "restore")
    scopes = list(requirement.scopes)
    if missing := missing_consent(person, requirement.scopes):
        return (
            f"Lifeboat has no consent for {', '.join(missing)} for {person}, which restoring "
            f"{obj.get_workload_display().lower()} items needs. An administrator must grant "
            "it to Lifeboat in Microsoft Entra; then sign in again."
        )
    try:
        tokens.access_token(person, scopes)
    except tokens.SignInRequired as error:
        stop.sign_in = error
        return ""
    except tokens.TokensUnavailable as error:
        stop.unavailable = str(error)
        return ""
    restorer = restorer_for(job, tokens.graph_as(person, scopes))
    limit = settings.RESTORE_CONCURRENCY_PER_MAILBOX
    verifier = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"verify-{job.pk}")
    reading_back: Future[None] | None = None

    def read_back(before: int) -> None:
        try:
            _verify_written(job, restorer, heartbeat, before=before)
        finally:
            connection.close()  # the verifier thread's own connection

    with ThreadPoolExecutor(max_workers=limit, thread_name_prefix=f"restore-{job.pk}") as pool:
        while not (heartbeat.should_stop or stop.event.is_set()):
            try:
                if reading_back is not None:
                    future, reading_back = reading_back, None
                    future.result()
                batch = _bookkeeping(lambda: _pending(job))
                if not batch:
                    _verify_written(job, restorer, heartbeat)  # the last batch's items
                    break
                # What earlier batches wrote is read back while this batch is written.
                reading_back = verifier.submit(read_back, batch[0].pk)
                _restore_batch(job, restorer, batch, pool, heartbeat, stop)
            except tokens.SignInRequired as error:
                stop.sign_in = error
            except faults.BudgetExhausted as error:
                # The marker lookup kept failing: try the whole batch again later.
                stop.unavailable = faults.describe(error.cause)
            if stop.sign_in or stop.unavailable or stop.store_unavailable:
                stop.event.set()
        if reading_back is not None:
            with contextlib.suppress(Exception):  # stopping anyway; unverified items stay ""
                reading_back.result()
        verifier.shutdown(wait=True)
        _close_connections(pool, limit)
    return ""


def _close_connections(pool: ThreadPoolExecutor, threads: int) -> None:
    """Close the database connection of each of the pool's threads before they go (a
    thread's connection is otherwise left open until garbage collection). One task per
    thread, held at a barrier until all run, so every thread gets exactly one."""
    barrier = threading.Barrier(threads)

    def close() -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=30)
        connection.close()

    for future in [pool.submit(close) for _ in range(threads)]:
        future.result()


def _pending(job: RestoreJob) -> list[RestoreJobItem]:
    return list(
        RestoreJobItem.objects.filter(job=job, status=RestoreJobItem.Status.PENDING)
        .select_related("item", "item__folder")
        .order_by("id")[:CHUNK]
    )


def _bookkeeping[T](fn: Callable[[], T]) -> T:
    """A database step of the runner, waited out through a database or Redis blink."""
    return faults.call(fn, budget=faults.Budget.default())


class FaultLog:
    """Says in the job log that a fault is being waited out: once per kind per minute,
    not once per item, and never failing the restore if the log itself can't be written."""

    EVERY_SECONDS = 60.0

    def __init__(self, job: RestoreJob) -> None:
        self.job = job
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}

    def __call__(self, exc: BaseException) -> None:
        what = faults.describe(exc)
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(what, -self.EVERY_SECONDS) < self.EVERY_SECONDS:
                return
            self._last[what] = now
        try:
            lifecycle.log(
                self.job,
                f"Waiting out a fault: {what}. The items concerned are retried with "
                "increasing pauses; none is given up before the retry budget runs out.",
                RestoreJobLog.Level.WARNING,
            )
        except Exception as error:
            if not faults.is_transient(error):
                raise


def _restore_batch(
    job: RestoreJob,
    restorer: Restorer,
    batch: list[RestoreJobItem],
    pool: ThreadPoolExecutor,
    heartbeat: Heartbeat,
    stop: Stop,
) -> None:
    retried = [ji for ji in batch if ji.attempts > 0]
    found = _bookkeeping(lambda: restorer.find_restored(retried)) if retried else {}
    for job_item in retried:
        if job_item.pk in found:
            done = Outcome.done(found[job_item.pk])
            _bookkeeping(lambda: _record(job, job_item, done))  # noqa: B023
    todo = [ji for ji in batch if ji.pk not in found]
    # Counted before Graph is asked: an item with attempts > 0 may exist in Microsoft 365,
    # so a later run looks for its marker first.
    _bookkeeping(
        lambda: RestoreJobItem.objects.filter(pk__in=[ji.pk for ji in todo]).update(
            attempts=F("attempts") + 1
        )
    )
    for job_item in todo:
        job_item.attempts += 1
    fault_log = FaultLog(job)

    def send(job_item: RestoreJobItem, tries: list[int]) -> Outcome:
        """One try at the item. After a fault, the item may already be in Microsoft 365
        (the request arrived, the answer was lost): look for its marker before sending."""
        tries[0] += 1
        if tries[0] > 1:
            again = restorer.find_restored([job_item])
            if job_item.pk in again:
                return Outcome.done(again[job_item.pk])
            RestoreJobItem.objects.filter(pk=job_item.pk).update(attempts=F("attempts") + 1)
            job_item.attempts += 1
        with throttle.slot(restorer.throttle_key):
            return restorer.restore(job_item)

    def one(job_item: RestoreJobItem) -> Outcome | None:
        if heartbeat.should_stop or stop.event.is_set():
            return None
        if job_item.item.content_status == ContentStatus.LOST:
            return Outcome.failed(CONTENT_LOST)
        tries = [0]

        def attempt() -> Outcome:
            try:
                return send(job_item, tries)
            except Exception as exc:
                if faults.is_transient(exc):
                    fault_log(exc)
                raise

        try:
            return faults.call(attempt, budget=faults.Budget.default())
        except tokens.SignInRequired as error:
            stop.sign_in = stop.sign_in or error
        except faults.BudgetExhausted as error:
            return Outcome.failed(str(error))
        except GraphError as error:
            return Outcome.failed(graph_problem(job, error)[: 500 - len(PERMANENT)] + PERMANENT)
        except BlobNotFound:
            return Outcome.failed("The backed-up content is missing from the backup store.")
        except BlobCorrupt:
            logger.error(
                "Restore job %s: item %s content fails authentication", job.pk, job_item.item_id
            )
            return Outcome.failed(
                "The backed-up content failed its integrity check and was not used."
            )
        except Exception as exc:
            if not faults.job_waits(exc):
                logger.exception("Restore job %s: item %s failed", job.pk, job_item.item_id)
                return Outcome.failed("An unexpected error stopped this item (details in the log).")
            # The backup store cannot be used: no item can be restored until it answers.
            stop.store_unavailable = stop.store_unavailable or faults.describe(exc)
        stop.event.set()
        return None

    futures: dict[Future[Outcome | None], RestoreJobItem] = {
        pool.submit(one, job_item): job_item for job_item in todo
    }
    for future in as_completed(futures):
        outcome = future.result()
        if outcome is not None:
            _bookkeeping(lambda: _record(job, futures[future], outcome))  # noqa: B023


def _written(job: RestoreJob, before: int | None) -> list[RestoreJobItem]:
    rows = RestoreJobItem.objects.filter(
        job=job, status=RestoreJobItem.Status.DONE, verification=""
    )
    if before is not None:
        rows = rows.filter(pk__lt=before)
    return list(rows.select_related("item", "item__folder").order_by("id")[:CHUNK])


def _verify_written(
    job: RestoreJob, restorer: Restorer, heartbeat: Heartbeat, *, before: int | None = None
) -> None:
    """Read back every restored item not verified yet (of the items before `before`: not
    the batch being written) and record what was found."""
    while not heartbeat.should_stop:
        written = _bookkeeping(lambda: _written(job, before))
        if not written:
            return

        def read_back() -> dict[int, Verdict]:
            with throttle.slot(restorer.throttle_key):
                return restorer.verify(written)  # noqa: B023

        try:
            verdicts = faults.call(read_back, budget=faults.Budget.default())
        except faults.BudgetExhausted as error:
            why = f"Could not be read back: {faults.describe(error.cause)}."
            verdicts = {ji.pk: Verdict.unreadable(why) for ji in written}
        except GraphError as error:
            why = f"Could not be read back: Microsoft 365 answered {error.status} {error.code}."
            verdicts = {ji.pk: Verdict.unreadable(why) for ji in written}
        except BlobNotFound:
            why = "The backed-up content is missing, so there is nothing to compare with."
            verdicts = {ji.pk: Verdict.unreadable(why) for ji in written}
        missing = Verdict.unreadable("Microsoft 365 gave no answer when it was read back.")
        judged = [(ji, verdicts.get(ji.pk) or missing) for ji in written]
        _bookkeeping(lambda: _record_verdicts(job, judged))  # noqa: B023


def _record_verdicts(job: RestoreJob, judged: list[tuple[RestoreJobItem, Verdict]]) -> None:
    """A batch's verdicts and the job's counters in one transaction: the matching items
    in one UPDATE, each one that does not match on its own (with its note) and logged."""
    V = RestoreJobItem.Verification
    matched = [ji.pk for ji, verdict in judged if verdict.ok]
    not_matched: list[tuple[RestoreJobItem, Verdict]] = []
    with transaction.atomic():
        verified = RestoreJobItem.objects.filter(pk__in=matched, verification="").update(
            verification=V.VERIFIED
        )
        for job_item, verdict in judged:
            if verdict.ok:
                continue
            outcome = V.MISMATCH if verdict.readable else V.UNREADABLE
            if RestoreJobItem.objects.filter(pk=job_item.pk, verification="").update(
                verification=outcome, verification_note=verdict.note[:500]
            ):
                not_matched.append((job_item, verdict))
        RestoreJob.objects.filter(pk=job.pk).update(
            items_verified=F("items_verified") + verified,
            items_unverified=F("items_unverified") + len(not_matched),
        )
    for job_item, verdict in not_matched:
        lifecycle.log(
            job,
            f"Restored but not verified: “{job_item.item.name}”. {verdict.note}",
            RestoreJobLog.Level.ERROR,
        )


PERMANENT = " A retry cannot fix this, so the item was not tried again."


def graph_problem(job: RestoreJob, error: GraphError) -> str:
    if error.status == 403:
        obj = job.destination
        requirement = permissions.requirement(obj.workload, obj.entity, "restore")
        if obj.entity == EntityKind.SITE:
            where = f"the right to write in the library {obj.name} (SharePoint says who may)"
        elif obj.entity == EntityKind.GROUP and obj.workload == "calendar":
            where = (
                f"to be a member or owner of the group {obj.name} (Microsoft 365 lets only "
                "them write in a group's calendar)"
            )
        else:
            where = f"access to {obj.name}'s {obj.get_workload_display().lower()}"
        return (
            f"Microsoft 365 refused ({error.code}): {job.acting_user} needs the delegated "
            f"permission {', '.join(requirement.scopes)} and {where}. {error.message}"
        )[:500]
    return f"Microsoft 365 answered {error.status} {error.code}: {error.message}"[:500]


COUNTERS: dict[str, str] = {  # by RestoreJobItem.Status (Outcome.status is a str)
    RestoreJobItem.Status.DONE: "items_done",
    RestoreJobItem.Status.SKIPPED: "items_skipped",
    RestoreJobItem.Status.FAILED: "items_failed",
}


def _record(job: RestoreJob, job_item: RestoreJobItem, outcome: Outcome) -> None:
    """One item's result and the job's counters, together, in one small transaction."""
    with transaction.atomic():
        changed = RestoreJobItem.objects.filter(
            pk=job_item.pk, status=RestoreJobItem.Status.PENDING
        ).update(
            status=outcome.status,
            result_graph_id=outcome.graph_id[:200],
            restored_as=outcome.name[:400],
            error=outcome.message[:500],
            finished_at=timezone.now(),
        )
        if changed:
            counters = {COUNTERS[outcome.status]: F(COUNTERS[outcome.status]) + 1}
            if outcome.status != RestoreJobItem.Status.FAILED:
                counters["bytes_done"] = F("bytes_done") + job_item.item.size
            RestoreJob.objects.filter(pk=job.pk).update(**counters)
    if changed and outcome.status == RestoreJobItem.Status.FAILED:
        lifecycle.log(
            job,
            f"Not restored: “{job_item.item.name}”. {outcome.message}",
            RestoreJobLog.Level.ERROR,
        )


def _finish(job: RestoreJob, heartbeat: Heartbeat, stop: Stop, failure: str) -> None:
    if heartbeat.lost.is_set():
        logger.info("Restore job %s was taken over by another worker", job.pk)
        return
    mine = Q(heartbeat_at=heartbeat.beat)
    job.refresh_from_db()
    if failure:
        if lifecycle.transition(job, S.FAILED, when=mine):
            lifecycle.log(job, failure, RestoreJobLog.Level.ERROR)
            _audit_finished(job)
        return
    if job.cancel_requested:
        if lifecycle.transition(job, S.CANCELLED, when=mine):
            lifecycle.log(job, _summary(job, "Cancelled"))
            _audit_finished(job)
        return
    if stop.sign_in is not None:
        wait_for_sign_in(job, stop.sign_in, when=mine)
        return
    if stop.store_unavailable:
        reason = f"Waiting for the backup store: {stop.store_unavailable}."
        if lifecycle.transition(job, S.QUEUED, when=mine, waiting_reason=reason[:500]):
            lifecycle.log(
                job,
                f"{reason} Nothing more is restored until it answers; trying again in "
                f"{RETRY_UNAVAILABLE_SECONDS} seconds.",
                RestoreJobLog.Level.WARNING,
            )
            job_queued.send(
                sender=RestoreJob, job_id=str(job.pk), countdown=RETRY_UNAVAILABLE_SECONDS
            )
        return
    if stop.unavailable:
        if lifecycle.transition(job, S.QUEUED, when=mine):
            lifecycle.log(
                job,
                f"Microsoft 365 could not be reached ({stop.unavailable}); trying again in "
                f"{RETRY_UNAVAILABLE_SECONDS} seconds.",
                RestoreJobLog.Level.WARNING,
            )
            job_queued.send(
                sender=RestoreJob, job_id=str(job.pk), countdown=RETRY_UNAVAILABLE_SECONDS
            )
        return
    if RestoreJobItem.objects.filter(job=job, status=RestoreJobItem.Status.PENDING).exists():
        # Stopped without a reason (should not happen): let the sweep pick it up again.
        lifecycle.transition(job, S.QUEUED, when=mine)
        return
    if job.items_failed == 0 and job.items_unverified == 0:
        status = S.COMPLETED
    elif job.items_done + job.items_skipped == 0:
        status = S.FAILED
    else:
        status = S.PARTIAL
    if lifecycle.transition(job, status, when=mine):
        level = RestoreJobLog.Level.INFO if status == S.COMPLETED else RestoreJobLog.Level.WARNING
        lifecycle.log(job, _summary(job, RestoreJob.Status(status).label), level)
        _audit_finished(job)


def _summary(job: RestoreJob, label: str) -> str:
    unverified = (
        f" {job.items_unverified} restored item{'s' if job.items_unverified != 1 else ''} "
        "did not verify (see above)."
        if job.items_unverified
        else ""
    )
    return (
        f"{label}: {job.items_done} restored, {job.items_verified} verified, "
        f"{job.items_skipped} skipped, {job.items_failed} failed of {job.items_total}." + unverified
    )


def _audit_finished(job: RestoreJob) -> None:
    outcomes: dict[str, str] = {S.COMPLETED: "success", S.CANCELLED: "success"}
    outcome = outcomes.get(job.status, "failure")
    audit.record(
        "restore.finished",
        actor=None,
        on_behalf_of=job.object.address or job.object.name,
        target=str(job.id),
        outcome=outcome,
        details={
            "status": job.status,
            "user": job.user.identity,
            **({"into": job.acting_user.identity} if job.writer_id else {}),
            "done": job.items_done,
            "skipped": job.items_skipped,
            "failed": job.items_failed,
            "verified": job.items_verified,
            "unverified": job.items_unverified,
            "total": job.items_total,
        },
    )


# --- Waiting for a sign-in ---------------------------------------------------------------


def wait_for_sign_in(job: RestoreJob, error: tokens.SignInRequired, *, when: Q) -> None:
    user = job.acting_user
    reason = f"{user} must sign in again: {error.reason}"
    if not lifecycle.transition(job, S.WAITING, when=when, waiting_reason=reason[:500]):
        return
    lifecycle.log(job, f"Paused. {reason}", RestoreJobLog.Level.WARNING)
    audit.record(
        "restore.waiting_for_sign_in",
        actor=None,
        on_behalf_of=user.upn,
        target=str(job.id),
        outcome="failure",
        details={"reason": error.reason[:300]},
    )
    sign_in = device_sign_in_for(user)
    if sign_in is not None:
        expires = timezone.localtime(sign_in.expires_at)
        lifecycle.log(
            job,
            f"To go on, open {sign_in.verification_uri} and enter the code {sign_in.user_code}, "
            f"then sign in as {user}. The code works until {expires:%H:%M}. The restore goes on "
            "by itself once that is done; signing in to Lifeboat in the browser works too.",
        )
    else:
        lifecycle.log(
            job,
            f"A sign-in code could not be started. Sign in to Lifeboat as {user}, or ask the "
            "helpdesk to start a sign-in for them; the restore goes on by itself afterwards.",
            RestoreJobLog.Level.WARNING,
        )
    # The person may have signed in between the refusal and now: don't wait for nothing.
    if TokenCache.objects.filter(user=user, status=TokenCache.Status.VALID).exclude(ciphertext=b""):
        lifecycle.requeue_waiting(user)


def device_sign_in_for(user: User) -> SignIn | None:
    """A pending device-code sign-in bound to `user`: the one already running, or a new one."""
    if not (user.oid and user.tenant_id):
        return None
    return signins.pending_sign_in_for(principals.ExpectedUser.of(user))


# --- The sweep ---------------------------------------------------------------------------


def resume_stalled() -> int:
    """Queue again: running jobs whose worker stopped beating, queued jobs nobody took,
    and waiting jobs whose person has signed in meanwhile."""
    stale = timezone.now() - timedelta(seconds=settings.RESTORE_STALE_SECONDS)
    restorable = RestoreJob.objects.exclude(target=RestoreJob.Target.DOWNLOAD)
    ids = list(
        restorable.filter(
            Q(status=S.RUNNING, heartbeat_at__lt=stale)
            | Q(status=S.QUEUED, created_at__lt=stale)
            | Q(status=S.QUEUED, heartbeat_at__lt=stale)
        ).values_list("pk", flat=True)
    )
    for job_id in ids:
        job_queued.send(sender=RestoreJob, job_id=str(job_id), countdown=None)
    for user in tokens.readable_again():  # an administrator put the missing key back
        lifecycle.requeue_waiting(user, because="the stored tokens can be decrypted again")
    signed_in = TokenCache.objects.filter(status=TokenCache.Status.VALID).exclude(ciphertext=b"")
    waiting = Q(restore_jobs__status=S.WAITING, restore_jobs__writer__isnull=True) | Q(
        restores_written__status=S.WAITING
    )
    for user in User.objects.filter(waiting, token_cache__in=signed_in).distinct():
        lifecycle.requeue_waiting(user)
    return len(ids)
