"""Restore jobs: creating one from a person's selection, its states, its log, cancelling.

The job's life is the table `TRANSITIONS`: every change of `RestoreJob.status` goes
through `transition()`, a conditional UPDATE that only succeeds from an allowed state, so
two workers (or a worker and a person pressing Cancel) can never both move a job.

    queued ──► running ──► completed | partially-failed | failed | cancelled
      ▲  │        │  ▲
      │  │        ▼  │
      │  └──► waiting-for-sign-in ──► (queued again once someone signs in)
      └──────── running (a stalled or interrupted job is queued again)

The work itself is in restore/jobs/runner.py (restores into Microsoft 365) and
restore/jobs/downloads.py (target=download, streamed at request time).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, Sum
from django.http import Http404
from django.utils import timezone

from portal import audit
from restore.jobs.signals import job_queued
from restore.models import (
    Folder,
    Item,
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
    S.QUEUED: frozenset({S.RUNNING, S.WAITING}),
    # Claimed by a worker; RUNNING → RUNNING only for a job whose worker stopped beating.
    S.RUNNING: frozenset({S.QUEUED, S.WAITING, S.RUNNING}),
    S.WAITING: frozenset({S.RUNNING}),
    S.COMPLETED: frozenset({S.RUNNING}),
    S.PARTIAL: frozenset({S.RUNNING}),
    S.FAILED: frozenset({S.QUEUED, S.RUNNING, S.WAITING}),
    S.CANCELLED: frozenset({S.QUEUED, S.RUNNING, S.WAITING}),
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


def default_folder_name(now: datetime | None = None) -> str:
    now = timezone.localtime(now or timezone.now())
    return f"Restored items {now:%Y-%m-%d %H.%M}"


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


def _clean_target_name(target: str, target_name: str) -> str:
    name = (target_name or "").strip()
    if target != RestoreJob.Target.FOLDER:
        return ""
    if not name:
        return default_folder_name()
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


def validate(
    scope: Scope,
    point: RestorePoint | object,
    item_ids: Iterable[object],
    folder_ids: Iterable[object],
    target: str,
    target_name: str = "",
    collision: str = RestoreJob.Collision.SKIP,
) -> Request:
    """Check a selection and its options. Raises Http404 (out of scope or not at that
    point) or ValidationError (a precise message)."""
    if not isinstance(point, RestorePoint):
        point = scope.restore_point(point)
    else:
        point = scope.restore_point(point.pk)
    if target not in RestoreJob.Target.values:
        raise ValidationError(
            f"Unknown restore target '{str(target)[:40]}': choose original, folder or download."
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
    name = _clean_target_name(target, target_name)
    ids = selected_items(scope, point, item_ids, folder_ids)
    return Request(point, target, name, collision, ids)


def create_job(
    scope: Scope,
    point: RestorePoint | object,
    item_ids: Iterable[object],
    folder_ids: Iterable[object],
    target: str,
    target_name: str = "",
    collision: str = RestoreJob.Collision.SKIP,
    *,
    request: HttpRequest | None = None,
) -> RestoreJob:
    """Validate a selection and queue its restore. Raises Http404 (out of scope or not at
    that point) or ValidationError (a precise message); nothing is written then."""
    asked = validate(scope, point, item_ids, folder_ids, target, target_name, collision)
    point, target, name, collision, ids = (
        asked.point,
        asked.target,
        asked.target_name,
        asked.collision,
        asked.item_ids,
    )
    bytes_total = Item.objects.filter(id__in=ids).aggregate(s=Sum("size"))["s"] or 0
    with transaction.atomic():
        job = RestoreJob.objects.create(
            user=scope.user,
            session=scope.session,
            object=point.object,
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
            },
        )
        if target != RestoreJob.Target.DOWNLOAD:
            enqueue(job)
    return job


def _describe(job: RestoreJob) -> str:
    what = f"{job.items_total} item{'s' if job.items_total != 1 else ''}"
    point = job.restore_point
    when = f"{timezone.localtime(point.started_at):%Y-%m-%d %H:%M}"
    if job.target == RestoreJob.Target.DOWNLOAD:
        return f"Download of {what} from the backup of {when} is ready."
    where = (
        "their original location"
        if job.target == RestoreJob.Target.ORIGINAL
        else f"a new {info(job.object.workload).folder_label}, “{job.target_name}”"
    )
    policy = {
        RestoreJob.Collision.SKIP: "items already there are skipped",
        RestoreJob.Collision.KEEP_BOTH: "items already there are kept and a copy is added",
        RestoreJob.Collision.OVERWRITE: "files already there are overwritten",
    }[RestoreJob.Collision(job.collision)]
    return f"Restore of {what} from the backup of {when} to {where} queued; {policy}."


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
    for job in RestoreJob.objects.filter(user=user, status=S.WAITING):
        if transition(job, S.QUEUED):
            why = because or f"{user} signed in"
            log(job, f"{why[:1].upper()}{why[1:]}; the restore continues.")
            enqueue(job)
            count += 1
    return count
