"""A dry run: what a restore will do, item by item, before it starts.

`plan()` validates the selection exactly as `lifecycle.create_job` does (the same
`lifecycle.validate`), then asks the workload's restorer — built for an unsaved job, with
the person's own delegated token — for the `Step` each item would take. The restorer
reads the live mailbox or drive (folders, "is it already there", the drive's quota) and
applies the same rules its `restore` applies, so the plan cannot drift from the run.
Nothing is written: no job row, no folder, no message, no file. No database transaction
is open while Graph is asked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from authflow import tokens
from portal import permissions
from portal.graph import GraphError
from restore.jobs import faults, lifecycle, runner
from restore.jobs.restorers import Action, Step, restorer_for
from restore.models import Item, RestoreJob, RestoreJobItem, RestorePoint
from restore.scope import Scope

CHUNK = 100


@dataclass(frozen=True)
class PlannedItem:
    item_id: int
    name: str  # as in the backup
    folder: str  # its folder's path in the backup
    action: Action
    detail: str  # why, or as which name, in a sentence
    restored_as: str  # the name it will have where it lands ("" if not restored)


@dataclass(frozen=True)
class Plan:
    object_name: str
    target: str
    target_name: str
    collision: str
    items: list[PlannedItem]
    target_object: int | None = None  # target=another: the other person's object

    @property
    def totals(self) -> dict[str, int]:
        counts = Counter(p.action for p in self.items)
        return {action.value: counts.get(action, 0) for action in Action}


class PlanUnavailable(Exception):
    """The plan could not be made: `reason` "sign_in" (the person must sign in again),
    "consent" (Lifeboat lacks a permission) or "unavailable" (Microsoft 365 could not be
    reached; try again). `str()` is a sentence to show."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def plan(
    scope: Scope,
    point: RestorePoint | object,
    item_ids: Iterable[object],
    folder_ids: Iterable[object],
    target: str,
    target_name: str = "",
    collision: str = RestoreJob.Collision.SKIP,
    target_object: object = None,
) -> Plan:
    """Raises Http404 / ValidationError as create_job does, or PlanUnavailable."""
    asked = lifecycle.validate(
        scope, point, item_ids, folder_ids, target, target_name, collision, target_object
    )
    return plan_request(scope, asked)


def plan_request(scope: Scope, asked: lifecycle.Request) -> Plan:
    """The plan of a validated request (one point, or a selection basket's picks)."""
    obj = asked.point.object
    items = list(Item.objects.filter(id__in=asked.item_ids).select_related("folder").order_by("id"))
    if asked.target == RestoreJob.Target.DOWNLOAD:
        steps = [Step(Action.RESTORE, "In the download.", i.name) for i in items]
    elif asked.destination is not None:
        # Another person's mailbox or drive can only be read with their token, which the
        # restore gets once they agree; the folder is new, so nothing there is in the way.
        into = asked.destination
        detail = (
            f"Into the new folder “{asked.target_name}” of {into.name}'s "
            f"{into.get_workload_display().lower()}, once they agree."
        )
        steps = [Step(Action.RESTORE, detail, i.name) for i in items]
    else:
        job = RestoreJob(  # never saved: the restorer only reads its settings
            user=scope.user,
            object=obj,
            restore_point=asked.point,
            target=asked.target,
            target_name=asked.target_name,
            collision=asked.collision,
        )
        steps = _steps(job, [RestoreJobItem(job=job, item=item) for item in items])
    return Plan(
        object_name=obj.name,
        target=asked.target,
        target_name=asked.target_name,
        collision=asked.collision,
        target_object=asked.destination.pk if asked.destination else None,
        items=[
            PlannedItem(
                item_id=item.pk,
                name=item.name,
                folder=item.folder.path,
                action=step.action,
                detail=step.detail,
                restored_as=step.name or item.name
                if step.action in (Action.RESTORE, Action.KEEP_BOTH, Action.OVERWRITE)
                else "",
            )
            for item, step in zip(items, steps, strict=True)
        ],
    )


def _steps(job: RestoreJob, job_items: list[RestoreJobItem]) -> list[Step]:
    obj = job.object
    requirement = permissions.requirement(obj.workload, obj.entity, "restore")
    if missing := runner.missing_consent(job.user, requirement.scopes):
        raise PlanUnavailable(
            "consent",
            f"Lifeboat has no consent for {', '.join(missing)} for {job.user}, which restoring "
            f"{obj.get_workload_display().lower()} items needs.",
        )
    scopes = list(requirement.scopes)
    try:
        tokens.access_token(job.user, scopes)
    except tokens.SignInRequired as error:
        raise PlanUnavailable("sign_in", f"{job.user} must sign in again: {error.reason}") from None
    except tokens.TokensUnavailable as error:
        raise PlanUnavailable("unavailable", str(error)) from None
    restorer = restorer_for(job, tokens.graph_as(job.user, scopes))
    steps: list[Step] = []
    for start in range(0, len(job_items), CHUNK):
        chunk = job_items[start : start + CHUNK]
        try:
            steps.extend(restorer.plan(chunk))
        except tokens.SignInRequired as error:
            raise PlanUnavailable(
                "sign_in", f"{job.user} must sign in again: {error.reason}"
            ) from None
        except GraphError as error:
            if faults.is_transient(error):
                raise PlanUnavailable(
                    "unavailable", f"{faults.describe(error)}; try again in a moment."
                ) from None
            why = runner.graph_problem(job, error)
            steps.extend(Step(Action.CANNOT, why) for _ in chunk)
        except Exception as exc:
            if not faults.is_transient(exc):
                raise
            raise PlanUnavailable(
                "unavailable", f"{faults.describe(exc)}; try again in a moment."
            ) from None
    return steps
