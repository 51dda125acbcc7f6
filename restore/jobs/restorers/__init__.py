"""Putting backed-up items back into Microsoft 365, one workload per module.

The runner (restore/jobs/runner.py) is generic: it asks `restorer_for(job, graph)` for the
workload's `Restorer` and calls two methods:

- `find_restored(job_items)`: which of these items an earlier, interrupted attempt
  already put back (found by the marker each restored item carries);
- `restore(job_item)`: put one item back; returns an `Outcome`;
- `verify(job_items)`: read restored items back (batched) and say, per item, whether
  Microsoft 365 holds what the backup holds (`Verdict`);
- `plan(job_items)`: what `restore` would do with each item, computed by reading the
  target only (a dry run: nothing is created), with the same rules `restore` applies.

Both raise `authflow.tokens.SignInRequired` / `TokensUnavailable` untouched: the runner
decides what a missing sign-in means for the job.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from django.utils.module_loading import import_string

from portal.graph import GraphError
from restore.blobs import blob_store, iter_chunks
from restore.models import RestoreJob, RestoreJobItem
from restore.workloads import WORKLOADS

if TYPE_CHECKING:
    from portal.graph import GraphClient


@dataclass(frozen=True)
class Outcome:
    status: str  # RestoreJobItem.Status
    graph_id: str = ""
    message: str = ""  # safe to show: why it was skipped or failed
    name: str = ""  # where it landed under another name (keep both), else ""

    @classmethod
    def done(cls, graph_id: str, name: str = "") -> Outcome:
        return cls(RestoreJobItem.Status.DONE, graph_id, name=name)

    @classmethod
    def skipped(cls, message: str, graph_id: str = "") -> Outcome:
        return cls(RestoreJobItem.Status.SKIPPED, graph_id, message)

    @classmethod
    def failed(cls, message: str) -> Outcome:
        return cls(RestoreJobItem.Status.FAILED, "", message)


class Action(StrEnum):
    """What a dry run says will happen to an item (restore/jobs/plan.py)."""

    RESTORE = "restore"  # nothing in the way: it will be created
    SKIP = "skip"  # already there: left alone
    KEEP_BOTH = "keep-both"  # already there: a second one is added (`detail` says as which)
    OVERWRITE = "overwrite"  # already there: replaced (files: a new version)
    CANNOT = "cannot"  # would fail: `detail` says why (permission, quota, content missing)


@dataclass(frozen=True)
class Step:
    """One item's planned outcome; `name` is what it will be called where it lands."""

    action: Action
    detail: str = ""
    name: str = ""


@dataclass(frozen=True)
class Verdict:
    """One restored item, read back: `ok`, or `note` says what differed (or why it could
    not be read back, `readable=False`)."""

    ok: bool
    note: str = ""
    readable: bool = True

    @classmethod
    def matches(cls) -> Verdict:
        return cls(True)

    @classmethod
    def differs(cls, differences: list[str]) -> Verdict:
        return cls(False, "Read back, it differs from the backup: " + "; ".join(differences))

    @classmethod
    def unreadable(cls, why: str) -> Verdict:
        return cls(False, why, readable=False)


class Restorer(Protocol):
    # Requests to one mailbox (or drive) are limited together: this names it.
    throttle_key: str

    def find_restored(self, job_items: list[RestoreJobItem]) -> dict[int, str]:
        """{job item id: graph id} of items already restored by an earlier attempt."""
        ...

    def restore(self, job_item: RestoreJobItem) -> Outcome: ...

    def verify(self, job_items: list[RestoreJobItem]) -> dict[int, Verdict]:
        """{job item id: verdict} for restored items (`result_graph_id` says where)."""
        ...

    def plan(self, job_items: list[RestoreJobItem]) -> list[Step]:
        """The step `restore` would take for each item, in order; writes nothing."""
        ...


def collision_step(job: RestoreJob, existing: str | None, already_there: str, added: str) -> Step:
    """What the job's collision policy makes of an Outlook item (message, event, contact)
    already at its target, or not: restore it, skip it (`already_there`), or add a second
    one (`added`). Outlook items have no overwrite (restore/workloads.py)."""
    if existing is None:
        return Step(Action.RESTORE)
    if job.collision == RestoreJob.Collision.SKIP:
        return Step(Action.SKIP, already_there)
    return Step(Action.KEEP_BOTH, added)


def marker_value(job_item: RestoreJobItem) -> str:
    """What a restored item carries so a retry can find it: unique per job and item."""
    return f"{job_item.job_id}:{job_item.item_id}"


# One PUT to an Outlook (message, event) or To Do attachment upload session: at most 4 MB.
ATTACHMENT_CHUNK = 4 * 1024 * 1024


def upload_attachment(graph: GraphClient, url: str, blob: str, size: int) -> None:
    """Send a blob to an attachment upload session (`…/attachments/createUploadSession` of
    an event or a To Do task) in ranges of at most 4 MB, each starting where the session
    expects; the last PUT answers 201 (the attachment's URL in Location)."""
    start = 0
    answer = None
    with blob_store().open(blob) as stream:
        for chunk in iter_chunks(stream, ATTACHMENT_CHUNK):
            answer = graph.put_fragment(url, chunk, start, size)
            start += len(chunk)
    if answer is None or answer.status_code != 201:
        raise GraphError(500, "uploadIncomplete", "The attachment upload session did not finish.")


def restorer_for(job: RestoreJob, graph: GraphClient) -> Restorer:
    """The workload's restorer, named in its WORKLOADS entry (restore/workloads.py)."""
    workload = job.object.workload
    if workload not in WORKLOADS:
        raise LookupError(f"Restoring {workload} is not supported yet.")
    restorer: Restorer = import_string(WORKLOADS[workload].restorer)(job, graph)
    return restorer
