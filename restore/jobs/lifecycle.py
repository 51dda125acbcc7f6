"""Restore jobs: creating one from a person's selection, its states, its log, cancelling.

The job's life is the table `TRANSITIONS`: every change of `RestoreJob.status` goes
through `transition()`, a conditional UPDATE that only succeeds from an allowed state, so
two workers (or a worker and a person pressing Cancel) can never both move a job.

    queued ──► running ──► completed | partially-failed | failed | cancelled
      ▲  │        │  ▲
      │  │        ▼  │
      │  └──► waiting-for-sign-in ──► (queued again once someone signs in)
      └──────── running (a stalled or interrupted job is queued again)

    waiting-for-consent ──► queued | cancelled   (into another person's mailbox or drive:
                                                  restore/jobs/consent.py)

The work itself is in restore/jobs/runner.py (restores into Microsoft 365) and
restore/jobs/downloads.py (target=download, streamed at request time).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, Sum
from django.http import Http404
from django.utils import timezone

from authflow import accounts, principals
from portal import audit
from restore.jobs.signals import job_queued
from restore.models import (
    ContentStatus,
    EntityKind,
    Folder,
    Item,
    ProtectedObject,
    RestoreConsent,
    RestoreJob,
    RestoreJobItem,
    RestoreJobLog,
    RestorePoint,
)
from restore.workloads import WORKLOADS, info

if TYPE_CHECKING:
    from django.http import HttpRequest

    from authflow.models import User
    from restore.scope import Scope

logger = logging.getLogger(__name__)

S = RestoreJob.Status

# to-state: the states a job may reach it from. The one place that says how a job moves.
TRANSITIONS: dict[str, frozenset[str]] = {
    # Queued again: a stalled worker, a download that was interrupted, a sign-in done.
    S.QUEUED: frozenset({S.RUNNING, S.WAITING, S.CONSENT}),
    # Claimed by a worker; RUNNING → RUNNING only for a job whose worker stopped beating.
    S.RUNNING: frozenset({S.QUEUED, S.WAITING, S.RUNNING}),
    S.WAITING: frozenset({S.RUNNING}),
    S.COMPLETED: frozenset({S.RUNNING}),
    S.PARTIAL: frozenset({S.RUNNING}),
    S.FAILED: frozenset({S.QUEUED, S.RUNNING, S.WAITING}),
    S.CANCELLED: frozenset({S.QUEUED, S.RUNNING, S.WAITING, S.CONSENT}),
}

MAX_TARGET_NAME = 255
# Characters neither Outlook folder names nor OneDrive names may hold.
_BAD_NAME = re.compile(r'["*:<>?/\\|\x00-\x1f]')


def transition(job: RestoreJob, to: str, *, when: Q | None = None, **fields: Any) -> bool:
    """Move `job` to `to` if it is in a state allowed to; refresh `job`. False if not."""
    condition = Q(pk=job.pk, status__in=TRANSITIONS[to])
    if when is not None:
        condition &= when
    now = timezone.now()
    if to in RestoreJob.FINISHED:
        fields.setdefault("finished_at", now)
    if to != S.WAITING:
        fields.setdefault("waiting_reason", "")
    changed = RestoreJob.objects.filter(condition).update(status=to, **fields) > 0
    job.refresh_from_db()
    return changed


def log(job: RestoreJob, message: str, level: str = RestoreJobLog.Level.INFO) -> None:
    """One plain sentence for the person reading the job page. Never a token or a secret."""
    RestoreJobLog.objects.create(job=job, level=level, message=message[:1000])


def default_folder_name(now: datetime | None = None, prefix: str = "Restored items") -> str:
    now = timezone.localtime(now or timezone.now())
    return f"{prefix} {now:%Y-%m-%d %H.%M}"


def _ids(values: Iterable[object], what: str) -> list[int]:
    ids: list[int] = []
    for value in values:
        text = str(value).strip()
        if not text:
            continue
        if not text.isdigit():
            raise ValidationError(f"'{text[:40]}' is not a valid {what} id.")
        ids.append(int(text))
    return sorted(set(ids))


def restored_from_name(source: ProtectedObject, now: datetime | None = None) -> str:
    """The folder another person finds the items in: says whose they were."""
    now = timezone.localtime(now or timezone.now())
    return f"Restored from {source.address or source.name} {now:%Y-%m-%d %H.%M}"[:MAX_TARGET_NAME]


def _clean_target_name(target: str, target_name: str, source: ProtectedObject) -> str:
    name = (target_name or "").strip()
    if target not in (RestoreJob.Target.FOLDER, RestoreJob.Target.ANOTHER):
        return ""
    if not name:
        if target == RestoreJob.Target.ANOTHER:
            return restored_from_name(source)
        return default_folder_name(prefix=info(source.workload).restored_name)
    if len(name) > MAX_TARGET_NAME:
        raise ValidationError(f"The folder name is longer than {MAX_TARGET_NAME} characters.")
    if _BAD_NAME.search(name) or name in (".", ".."):
        raise ValidationError(
            "The folder name can't contain any of \" * : < > ? / \\ | or control characters."
        )
    return name


def folder_subtree(scope: Scope, point: RestorePoint, folders: Iterable[Folder]) -> set[str]:
    """Graph ids of the folders and every folder below them, at the point."""
    at_point = scope.folders(point)
    graph_ids: set[str] = set()
    below = Q(pk__in=[])
    for folder in folders:
        graph_ids.add(folder.graph_id)
        # A drive's root has the path "": everything is below it.
        below |= Q(path__startswith=f"{folder.path}/") if folder.path else Q(pk__isnull=False)
    graph_ids.update(at_point.filter(below).values_list("graph_id", flat=True))
    return graph_ids


def selected_items(
    scope: Scope, point: RestorePoint, item_ids: Iterable[object], folder_ids: Iterable[object]
) -> list[int]:
    """Ids of the items chosen, folders expanded, all valid at the point. 404 if any is not."""
    items = _ids(item_ids, "item")
    folders = _ids(folder_ids, "folder")
    if not items and not folders:
        raise ValidationError("Choose at least one item or folder to restore.")
    at_point = scope.items(point)
    found = set(at_point.filter(id__in=items).values_list("id", flat=True))
    if missing := [i for i in items if i not in found]:
        raise Http404(f"Item {missing[0]} is not in this restore point.")
    chosen_folders = list(scope.folders(point).filter(id__in=folders))
    if len(chosen_folders) != len(folders):
        missing_folder = sorted(set(folders) - {f.id for f in chosen_folders})[0]
        raise Http404(f"Folder {missing_folder} is not in this restore point.")
    if chosen_folders:
        graph_ids = folder_subtree(scope, point, chosen_folders)
        found.update(at_point.filter(folder__graph_id__in=graph_ids).values_list("id", flat=True))
    if not found:
        raise ValidationError("The selected folders hold no items at this restore point.")
    return sorted(found)


@dataclass(frozen=True)
class Request:
    """A restore asked for, validated: what `create_job` queues and a dry run plans."""

    point: RestorePoint
    target: str
    target_name: str
    collision: str
    item_ids: list[int]
    destination: ProtectedObject | None = None  # target=another: whose mailbox or drive


def _destination(
    scope: Scope, source: ProtectedObject, target: str, target_object: object
) -> ProtectedObject | None:
    """target=another: the other person's mailbox or drive, in the requester's scope (an
    operator scope says who may ask for whom); 404 outside it, as for any id."""
    if target != RestoreJob.Target.ANOTHER:
        return None
    if target_object in (None, ""):
        raise ValidationError("Choose the person whose mailbox or OneDrive to restore into.")
    destination = scope.object(target_object)
    if destination.workload != source.workload:
        kind = source.get_workload_display()
        raise ValidationError(
            f"The {destination} can't hold items of a {kind}: choose another person's {kind}."
        )
    if destination.entity != EntityKind.USER:
        raise ValidationError(
            f"{destination.name} is a group: restoring for another person goes into a "
            "person's own mailbox or OneDrive."
        )
    if destination.pk == source.pk:
        raise ValidationError(
            "That is where these items come from: choose “Original location” or “New folder”."
        )
    return destination


def validate(
    scope: Scope,
    point: RestorePoint | object,
    item_ids: Iterable[object],
    folder_ids: Iterable[object],
    target: str,
    target_name: str = "",
    collision: str = RestoreJob.Collision.SKIP,
    target_object: object = None,
) -> Request:
    """Check a selection and its options. Raises Http404 (out of scope or not at that
    point) or ValidationError (a precise message)."""
    return validate_picks(
        scope, [(point, item_ids, folder_ids)], target, target_name, collision, target_object
    )


Pick = tuple[RestorePoint | object, Iterable[object], Iterable[object]]


def validate_picks(
    scope: Scope,
    picks: Iterable[Pick],
    target: str,
    target_name: str = "",
    collision: str = RestoreJob.Collision.SKIP,
    target_object: object = None,
) -> Request:
    """Check items and folders picked at one or more restore points of one object (a
    selection basket) and the options; each item is taken as its own point held it. The
    job shows the newest of the points. Raises Http404 or ValidationError."""
    chosen: list[tuple[RestorePoint, Iterable[object], Iterable[object]]] = []
    for point, item_ids, folder_ids in picks:
        pk = point.pk if isinstance(point, RestorePoint) else point
        chosen.append((scope.restore_point(pk), item_ids, folder_ids))
    if not chosen:
        raise ValidationError("Choose at least one item or folder to restore.")
    objects = {point.object_id for point, _, _ in chosen}
    if len(objects) > 1:
        raise ValidationError(
            "A restore takes the items of one mailbox or drive: restore each one on its own."
        )
    newest = max((point for point, _, _ in chosen), key=lambda p: p.seq)
    target, name, collision, destination = _options(
        scope, newest, target, target_name, collision, target_object
    )
    ids: set[int] = set()
    for point, item_ids, folder_ids in chosen:
        ids.update(selected_items(scope, point, item_ids, folder_ids))
    return Request(newest, target, name, collision, sorted(ids), destination)


def _options(
    scope: Scope,
    point: RestorePoint,
    target: str,
    target_name: str,
    collision: str,
    target_object: object,
) -> tuple[str, str, str, ProtectedObject | None]:
    """The restore's target, folder name, collision policy and other person, checked."""
    if target not in RestoreJob.Target.values:
        raise ValidationError(
            f"Unknown restore target '{str(target)[:40]}': choose original, folder, another "
            "or download."
        )
    workload = point.object.workload
    allowed = info(workload).collisions if workload in WORKLOADS else (RestoreJob.Collision.SKIP,)
    if target == RestoreJob.Target.DOWNLOAD:
        collision = RestoreJob.Collision.KEEP_BOTH
    elif collision not in RestoreJob.Collision.values:
        raise ValidationError(
            f"Unknown collision policy '{str(collision)[:40]}': choose skip, keep-both or "
            "overwrite."
        )
    elif collision not in allowed:
        raise ValidationError(
            f"{RestoreJob.Collision(collision).label} is not available for "
            f"{point.object.get_workload_display().lower()} items: choose "
            + " or ".join(RestoreJob.Collision(c).label.lower() for c in allowed)
            + "."
        )
    if (
        workload == "calendar"
        and point.object.entity == EntityKind.GROUP
        and target in (RestoreJob.Target.FOLDER, RestoreJob.Target.ANOTHER)
    ):
        raise ValidationError(
            "A group has one calendar: restore its events into it (original) or download them."
        )
    destination = _destination(scope, point.object, target, target_object)
    name = _clean_target_name(target, target_name, point.object)
    return target, name, collision, destination


def create_job(
    scope: Scope,
    point: RestorePoint | object,
    item_ids: Iterable[object],
    folder_ids: Iterable[object],
    target: str,
    target_name: str = "",
    collision: str = RestoreJob.Collision.SKIP,
    target_object: object = None,
    *,
    request: HttpRequest | None = None,
) -> RestoreJob:
    """Validate a selection and queue its restore. Raises Http404 (out of scope or not at
    that point) or ValidationError (a precise message); nothing is written then.

    Into another person's mailbox or drive (target=another), the job waits for that
    person's consent unless it is the requester's own or an administrator's policy gives
    it (`Scope.may_skip_consent`); see restore/jobs/consent.py."""
    asked = validate(
        scope, point, item_ids, folder_ids, target, target_name, collision, target_object
    )
    return queue(scope, asked, request=request)


def queue(scope: Scope, asked: Request, *, request: HttpRequest | None = None) -> RestoreJob:
    """Create the job of a validated request (`validate`, `validate_picks`) and queue it."""
    point, target, name, collision, ids, destination = (
        asked.point,
        asked.target,
        asked.target_name,
        asked.collision,
        asked.item_ids,
        asked.destination,
    )
    bytes_total = Item.objects.filter(id__in=ids).aggregate(s=Sum("size"))["s"] or 0
    # Asked of Graph (a policy granted through a group) before the transaction opens.
    by_policy = destination is not None and scope.may_skip_consent(destination)
    with transaction.atomic():
        writer = _person_of(destination) if destination is not None else None
        needs_answer = writer is not None and writer != scope.user and not by_policy
        job = RestoreJob.objects.create(
            user=scope.user,
            session=scope.session,
            object=point.object,
            target_object=destination,
            writer=writer,
            status=S.CONSENT if needs_answer else S.QUEUED,
            restore_point=point,
            target=target,
            target_name=name,
            collision=collision,
            items_total=len(ids),
            bytes_total=bytes_total,
        )
        RestoreJobItem.objects.bulk_create(
            (RestoreJobItem(job=job, item_id=i) for i in ids), batch_size=1000
        )
        log(job, _describe(job))
        if target == RestoreJob.Target.DOWNLOAD:
            _prepare_download(job)
        audit.record(
            "restore.requested",
            request=request,
            actor=scope.user,
            on_behalf_of=point.object.address or point.object.name,
            target=str(job.id),
            details={
                "object": point.object_id,
                "restore_point": point.pk,
                "target": target,
                "collision": collision,
                "items": len(ids),
                "bytes": bytes_total,
                **({"into": destination.address or destination.name} if destination else {}),
            },
        )
        if destination is not None:
            _ask(job, by_policy=by_policy, request=request)
        if target != RestoreJob.Target.DOWNLOAD and job.status == S.QUEUED:
            enqueue(job)
    return job


# Why an item can't be in a download, from what the catalog knows (no store reads here).
_LEFT_OUT = {
    ContentStatus.LOST: "Content lost (found by verify_blobs).",
    ContentStatus.MISSING: "Its content is missing from the backup store.",
    ContentStatus.CORRUPT: "Its content failed its integrity check.",
}


def _prepare_download(job: RestoreJob) -> None:
    """A download is prepared at once: the items whose content the catalog holds are in
    it (done), the others are left out with the reason (failed); the job is finished —
    completed, partially failed or failed — and ready to download until it expires. The
    file itself is streamed when fetched (restore/jobs/downloads.py), as often as asked."""
    now = timezone.now()
    rows = RestoreJobItem.objects.filter(job=job)
    for content, reason in _LEFT_OUT.items():
        rows.filter(item__content_status=content).update(
            status=RestoreJobItem.Status.FAILED, error=reason, finished_at=now
        )
    rows.filter(item__content_sha256="", status=RestoreJobItem.Status.PENDING).update(
        status=RestoreJobItem.Status.FAILED, error="Nothing was backed up for it.", finished_at=now
    )
    included = rows.filter(status=RestoreJobItem.Status.PENDING)
    bytes_done = included.aggregate(s=Sum("item__size"))["s"] or 0
    done = included.update(status=RestoreJobItem.Status.DONE, finished_at=now)
    failed = job.items_total - done
    for row in rows.filter(status=RestoreJobItem.Status.FAILED).select_related("item")[:100]:
        log(job, f"Left out: “{row.item.name}”. {row.error}", RestoreJobLog.Level.ERROR)
    status = S.COMPLETED if not failed else S.PARTIAL if done else S.FAILED
    expires = now + timedelta(hours=settings.RESTORE_DOWNLOAD_HOURS)
    RestoreJob.objects.filter(pk=job.pk).update(
        status=status,
        items_done=done,
        items_failed=failed,
        bytes_done=bytes_done,
        started_at=now,
        finished_at=now,
        download_expires_at=expires,
    )
    job.refresh_from_db()
    if done:
        log(job, f"Ready to download until {timezone.localtime(expires):%Y-%m-%d %H:%M %Z}.")


def _person_of(destination: ProtectedObject) -> User:
    """The portal user of the mailbox's or drive's owner, made if they never signed in."""
    return accounts.user_for_expected(
        principals.ExpectedUser(
            oid=str(destination.owner_id),
            tenant_id=str(destination.tenant_id),
            upn=destination.address,
            display_name=destination.name,
        )
    )


def _ask(job: RestoreJob, *, by_policy: bool, request: HttpRequest | None) -> None:
    """Record the question about a job just created into another person's mailbox or drive
    (restore/jobs/consent.py has the answers). Given at once for oneself or by policy."""
    now = timezone.now()
    C = RestoreConsent.Status
    status = C.GIVEN if job.writer_id == job.user_id else C.BY_POLICY if by_policy else C.ASKED
    consent = RestoreConsent.objects.create(
        job=job,
        status=status,
        asked_at=now,
        expires_at=now + timedelta(hours=settings.RESTORE_CONSENT_HOURS),
        decided_at=None if status == C.ASKED else now,
    )
    person, where = job.acting_user, job.destination.get_workload_display().lower()
    if status == C.ASKED:
        until = timezone.localtime(consent.expires_at)
        log(
            job,
            f"Waiting for {person} to agree: the items go into their {where}, so they decide. "
            f"They see the request when they next open Lifeboat; it expires at "
            f"{until:%Y-%m-%d %H:%M}.",
        )
    elif status == C.BY_POLICY:
        log(
            job,
            f"An administrator's policy lets {job.user} restore into {person}'s {where} "
            f"without asking; the restore runs with {person}'s own sign-in.",
        )
    action = "restore.consent_requested" if status == C.ASKED else "restore.consent_given"
    audit_consent(job, action, request, actor=job.user, details={"how": status})


def audit_consent(
    job: RestoreJob,
    action: str,
    request: HttpRequest | None,
    *,
    actor: User | None,
    outcome: str = "success",
    details: dict[str, object] | None = None,
) -> None:
    """One audit event about a restore into another person's mailbox or drive."""
    audit.record(
        action,
        request=request,
        actor=actor,
        on_behalf_of=job.destination.address or job.destination.name,
        target=str(job.id),
        outcome=outcome,
        details={
            "requester": job.user.identity,
            "person": job.acting_user.identity,
            "from": job.object.address or job.object.name,
            "items": job.items_total,
            **(details or {}),
        },
    )


def _describe(job: RestoreJob) -> str:
    what = f"{job.items_total} item{'s' if job.items_total != 1 else ''}"
    point = job.restore_point
    when = f"{timezone.localtime(point.started_at):%Y-%m-%d %H:%M}"
    if job.target == RestoreJob.Target.DOWNLOAD:
        return f"Download of {what} from the backup of {when} prepared."
    folder = (
        info(job.object.workload).folder_label if job.object.workload in WORKLOADS else "folder"
    )
    if job.target == RestoreJob.Target.ORIGINAL:
        where = "their original location"
    elif job.target == RestoreJob.Target.ANOTHER:
        where = f"a new {folder}, “{job.target_name}”, of {job.acting_user}'s " + (
            job.destination.get_workload_display().lower()
        )
    else:
        where = f"a new {folder}, “{job.target_name}”"
    policy = {
        RestoreJob.Collision.SKIP: "items already there are skipped",
        RestoreJob.Collision.KEEP_BOTH: "items already there are kept and a copy is added",
        RestoreJob.Collision.OVERWRITE: "files already there are overwritten",
    }[RestoreJob.Collision(job.collision)]
    queued = "asked" if job.status == S.CONSENT else "queued"
    return f"Restore of {what} from the backup of {when} to {where} {queued}; {policy}."


def enqueue(job: RestoreJob, *, countdown: int | None = None) -> None:
    """Ask a worker to run the job, once the current transaction commits."""
    job_id = str(job.pk)
    transaction.on_commit(
        lambda: job_queued.send(sender=RestoreJob, job_id=job_id, countdown=countdown)
    )


def cancel(job: RestoreJob, *, by: User | None, request: HttpRequest | None = None) -> bool:
    """Ask a job to stop. A queued or waiting job stops at once; a running one after the
    item in hand. False if it had already finished."""
    if job.is_finished:
        return False
    RestoreJob.objects.filter(pk=job.pk).update(cancel_requested=True)
    stopped_now = transition(job, S.CANCELLED, when=~Q(status=S.RUNNING))
    asked = RestoreConsent.objects.filter(job=job, status=RestoreConsent.Status.ASKED)
    if asked.update(status=RestoreConsent.Status.WITHDRAWN, decided_at=timezone.now()):
        audit_consent(job, "restore.consent_withdrawn", request, actor=by, outcome="failure")
    log(job, f"Cancelled by {by}." if stopped_now else f"{by} asked to cancel; stopping.")
    audit.record(
        "restore.cancelled",
        request=request,
        actor=by,
        on_behalf_of=job.object.address or job.object.name,
        target=str(job.id),
        details={"status": job.status},
    )
    return True


def requeue_waiting(user: User, because: str = "") -> int:
    """Someone signed in (or their tokens became readable again, `because`): the jobs
    that waited for them go on."""
    count = 0
    own = Q(user=user, writer__isnull=True) | Q(writer=user)
    for job in RestoreJob.objects.filter(own, status=S.WAITING):
        if transition(job, S.QUEUED):
            why = because or f"{user} signed in"
            log(job, f"{why[:1].upper()}{why[1:]}; the restore continues.")
            enqueue(job)
            count += 1
    return count
