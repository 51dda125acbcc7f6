"""Restore jobs: start one, follow it, read its log, cancel it, fetch a download.

The same domain code as the restore pages: `restore.jobs.lifecycle.create_job` validates the
selection against the caller's `Scope` and queues the job (audited), `restore.jobs.lifecycle.cancel`
stops it, `restore.jobs.downloads.response` streams a download, `restore.jobs.plan.plan`
answers a dry run (`"dry_run": true`: what would happen, item by item; nothing
written). Jobs are the caller's own (`Scope.jobs`); anyone else's job id is 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from django.core.exceptions import ValidationError
from django.http import HttpRequest, StreamingHttpResponse
from ninja import Field, Path, Query, Router, Schema, Status
from pydantic import ConfigDict

from api.auth import caller
from api.catalog import BINARY, NOT_FOUND, Id, scope_of
from api.errors import AUTH_ERRORS, ApiError, Error
from api.paging import numbered_page
from restore.jobs import downloads, lifecycle
from restore.jobs import plan as dry_run
from restore.jobs.restorers import Action
from restore.models import RestoreConsent, RestoreJob

router = Router(tags=["restore jobs"])

MAX_ITEMS = 10_000
MAX_FOLDERS = 1_000
MAX_PAGE_SIZE = 200


class TargetIn(Schema):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["original", "folder", "another", "download"] = Field(
        description="original: where each item was; folder: a new folder (named `name`) "
        "holding the items in their folder tree; another: a new folder of another person's "
        "mailbox or OneDrive (`object`), written with their own sign-in once they agree in "
        "the portal (status waiting-for-consent until then); download: a file to fetch "
        "from /restore-jobs/{id}/download."
    )
    name: str = Field(
        "",
        max_length=lifecycle.MAX_TARGET_NAME,
        description="kind=folder or another: the new folder's name (default: “Restored "
        "items <date>”, or “Restored from <address> <date>” for another person).",
    )
    object: Id | None = Field(
        None,
        description="kind=another: the other person's mailbox or OneDrive, an object id in "
        "your scope of the same workload (an operator scope says for whom you may ask).",
    )


class RestoreJobIn(Schema):
    model_config = ConfigDict(extra="forbid")

    restore_point: Id = Field(
        description="The restore point to restore from; every item and folder must be in it."
    )
    items: list[Id] = Field(max_length=MAX_ITEMS, description="Item ids at that point.")
    folders: list[Id] = Field(
        [], max_length=MAX_FOLDERS, description="Folder ids: their items and subfolders'."
    )
    target: TargetIn
    collision: Literal["skip", "keep-both", "overwrite"] = Field(
        "skip",
        description="When the item is already there. Mail: skip or keep-both; overwrite is "
        "for files. Downloads ignore it.",
    )
    dry_run: bool = Field(
        False,
        description="true: start nothing; answer 200 with the plan — what the restore would "
        "do with each item, computed against the live mailbox or drive with your own "
        "delegated token. Nothing is written.",
    )


class PlannedItemOut(Schema):
    item_id: int
    name: str = Field(description="The item's name (mail: subject) in the backup.")
    folder: str = Field(description="Its folder's path in the backup.")
    action: Literal["restore", "skip", "keep-both", "overwrite", "cannot"] = Field(
        description="restore: created, nothing in the way; skip: already there, left alone; "
        "keep-both: already there, a second one is added (restored_as says as which name); "
        "overwrite: already there, replaced; cannot: would fail (detail says why)."
    )
    detail: str
    restored_as: str = Field(description="Its name where it lands; empty if not restored.")


class PlanTotalsOut(Schema):
    restore: int
    skip: int
    keep_both: int = Field(description="Items of action keep-both.")
    overwrite: int
    cannot: int


class PlanOut(Schema):
    dry_run: Literal[True]
    target: TargetOut
    collision: str
    items_total: int
    totals: PlanTotalsOut
    items: list[PlannedItemOut]


class TargetOut(Schema):
    kind: str
    name: str
    object_id: int | None = Field(
        None, description="kind=another: the other person's mailbox or OneDrive."
    )


class RestoreJobOut(Schema):
    id: UUID
    status: str = Field(
        description="queued, running, waiting-for-sign-in, waiting-for-consent, completed, "
        "partially-failed, failed or cancelled."
    )
    object_id: int
    restore_point: int
    target: TargetOut
    collision: str
    items_total: int
    items_done: int
    items_skipped: int
    items_failed: int
    items_verified: int = Field(
        description="Restored items read back from Microsoft 365 and found as in the backup."
    )
    items_unverified: int = Field(
        description="Restored items that, read back, differ from the backup or could not be "
        "read (each named in the log)."
    )
    bytes_total: int
    bytes_done: int
    waiting_reason: str = Field(description="While waiting-for-sign-in: whose sign-in.")
    consent: str | None = Field(
        None,
        description="kind=another: asked, given, by-policy, refused, expired or withdrawn.",
    )
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    download_url: str | None = Field(description="For target kind download.")
    download_expires_at: datetime | None = Field(
        None,
        description="For target kind download: it is prepared at once (status completed, or "
        "partially-failed when some items' content is lost) and can be fetched until then.",
    )


class RestoreJobsOut(Schema):
    items: list[RestoreJobOut]
    count: int
    page: int
    page_size: int


class JobsPaging(Schema):
    page: int = Field(1, ge=1, le=1_000_000)
    page_size: int = Field(25, ge=1, le=MAX_PAGE_SIZE)


class LogEntryOut(Schema):
    at: datetime
    level: str
    message: str


class LogOut(Schema):
    items: list[LogEntryOut]


def job_out(job: RestoreJob) -> RestoreJobOut:
    download = job.target == RestoreJob.Target.DOWNLOAD
    return RestoreJobOut(
        id=job.pk,
        status=job.status,
        object_id=job.object_id,
        restore_point=job.restore_point_id,
        target=TargetOut(kind=job.target, name=job.target_name, object_id=job.target_object_id),
        collision=job.collision,
        items_total=job.items_total,
        items_done=job.items_done,
        items_skipped=job.items_skipped,
        items_failed=job.items_failed,
        items_verified=job.items_verified,
        items_unverified=job.items_unverified,
        bytes_total=job.bytes_total,
        bytes_done=job.bytes_done,
        waiting_reason=job.waiting_reason,
        consent=_consent_of(job),
        cancel_requested=job.cancel_requested,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        download_url=f"/api/v1/restore-jobs/{job.pk}/download" if download else None,
        download_expires_at=job.download_expires_at,
    )


def _consent_of(job: RestoreJob) -> str | None:
    if job.target != RestoreJob.Target.ANOTHER:
        return None
    return RestoreConsent.objects.filter(job=job).values_list("status", flat=True).first()


def plan_out(plan: dry_run.Plan) -> PlanOut:
    totals = plan.totals
    return PlanOut(
        dry_run=True,
        target=TargetOut(kind=plan.target, name=plan.target_name, object_id=plan.target_object),
        collision=plan.collision,
        items_total=len(plan.items),
        totals=PlanTotalsOut(
            restore=totals["restore"],
            skip=totals["skip"],
            keep_both=totals["keep-both"],
            overwrite=totals["overwrite"],
            cannot=totals["cannot"],
        ),
        items=[
            PlannedItemOut(
                item_id=p.item_id,
                name=p.name,
                folder=p.folder,
                action=Action(p.action).value,
                detail=p.detail,
                restored_as=p.restored_as,
            )
            for p in plan.items
        ],
    )


# PlanUnavailable.reason → (status, error)
PLAN_PROBLEMS = {
    "sign_in": (409, "sign_in_required"),
    "consent": (409, "consent_required"),
    "unavailable": (503, "temporarily_unavailable"),
}


@router.post(
    "/restore-jobs",
    response={
        202: RestoreJobOut,
        200: PlanOut,
        **AUTH_ERRORS,
        **NOT_FOUND,
        409: Error,
        503: Error,
    },
    summary="Start a restore (or prepare a download) of items and folders of one restore "
    "point — or, with dry_run, see what it would do",
    description="202 with the job; with `dry_run: true`, 200 with the plan and nothing "
    "started. A dry run answers 409 when your sign-in or Lifeboat's consent is missing, "
    "503 when Microsoft 365 could not be reached.",
)
def start(request: HttpRequest, payload: RestoreJobIn) -> Status:
    scope = scope_of(request)
    selection = (
        payload.restore_point,
        payload.items,
        payload.folders,
        payload.target.kind,
        payload.target.name,
        payload.collision,
        payload.target.object,
    )
    if payload.dry_run:
        try:
            plan = dry_run.plan(scope, *selection)
        except ValidationError as error:
            raise ApiError(400, "invalid_request", " ".join(error.messages)) from error
        except dry_run.PlanUnavailable as error:
            status, code = PLAN_PROBLEMS[error.reason]
            raise ApiError(status, code, str(error)) from error
        return Status(200, plan_out(plan))
    try:
        job = lifecycle.create_job(scope, *selection, request=request)
    except ValidationError as error:
        raise ApiError(400, "invalid_request", " ".join(error.messages)) from error
    return Status(202, job_out(job))


@router.get(
    "/restore-jobs",
    response={200: RestoreJobsOut, **AUTH_ERRORS},
    summary="Your restore jobs, newest first",
)
def job_list(request: HttpRequest, paging: Query[JobsPaging]) -> RestoreJobsOut:
    rows = scope_of(request).jobs().order_by("-created_at", "-pk")
    return RestoreJobsOut(**numbered_page(rows, paging.page, paging.page_size, job_out))


@router.get(
    "/restore-jobs/{id}",
    response={200: RestoreJobOut, **AUTH_ERRORS, **NOT_FOUND},
    summary="One of your restore jobs: status and progress",
)
def job_detail(request: HttpRequest, id: Path[UUID]) -> RestoreJobOut:
    return job_out(scope_of(request).job(id))


@router.get(
    "/restore-jobs/{id}/log",
    response={200: LogOut, **AUTH_ERRORS, **NOT_FOUND},
    summary="A restore job's log, oldest first",
)
def job_log(request: HttpRequest, id: Path[UUID]) -> LogOut:
    job = scope_of(request).job(id)
    return LogOut(
        items=[LogEntryOut(at=e.at, level=e.level, message=e.message) for e in job.log.all()]
    )


@router.post(
    "/restore-jobs/{id}/cancel",
    response={200: RestoreJobOut, **AUTH_ERRORS, **NOT_FOUND, 409: Error},
    summary="Cancel a restore job: at once if queued or waiting, else after the item in hand",
)
def job_cancel(request: HttpRequest, id: Path[UUID]) -> RestoreJobOut:
    job = scope_of(request).job(id)
    if not lifecycle.cancel(job, by=caller(request), request=request):
        raise ApiError(409, "conflict", f"The restore had already finished ({job.status}).")
    job.refresh_from_db()
    return job_out(job)


@router.get(
    "/restore-jobs/{id}/download",
    response={200: None, **AUTH_ERRORS, **NOT_FOUND, 410: Error},
    summary="A download job's file: one message (.eml), one file, or a .zip of several",
    openapi_extra={
        "responses": {
            200: {
                "description": "Streamed as an attachment.",
                "content": {
                    "application/zip": BINARY,
                    "message/rfc822": BINARY,
                    "application/octet-stream": BINARY,
                },
            }
        }
    },
)
def job_download(request: HttpRequest, id: Path[UUID]) -> StreamingHttpResponse:
    job = scope_of(request).job(id)
    if job.target != RestoreJob.Target.DOWNLOAD:
        raise ApiError(404, "not_found", "This restore job is not a download.")
    if job.status == RestoreJob.Status.CANCELLED:
        raise ApiError(410, "gone", "This download was cancelled.")
    if job.download_expired or not job.items_done:
        raise ApiError(410, "gone", downloads.gone(job))
    return downloads.response(job, request)
