"""Putting backed-up items back into Microsoft 365, one workload per module.

The runner (restore/jobs/runner.py) is generic: it asks `restorer_for(job, graph)` for the
workload's `Restorer` and calls two methods:

- `find_restored(job_items)`: which of these items an earlier, interrupted attempt
  already put back (found by the marker each restored item carries);
- `restore(job_item)`: put one item back; returns an `Outcome`.

Both raise `authflow.tokens.SignInRequired` / `TokensUnavailable` untouched: the runner
decides what a missing sign-in means for the job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from django.utils.module_loading import import_string

from restore.models import RestoreJob, RestoreJobItem
from restore.workloads import WORKLOADS

if TYPE_CHECKING:
    from portal.graph import GraphClient


@dataclass(frozen=True)
class Outcome:
    status: str  # RestoreJobItem.Status
    graph_id: str = ""
    message: str = ""  # safe to show: why it was skipped or failed

    @classmethod
    def done(cls, graph_id: str) -> Outcome:
        return cls(RestoreJobItem.Status.DONE, graph_id)

    @classmethod
    def skipped(cls, message: str, graph_id: str = "") -> Outcome:
        return cls(RestoreJobItem.Status.SKIPPED, graph_id, message)

    @classmethod
    def failed(cls, message: str) -> Outcome:
        return cls(RestoreJobItem.Status.FAILED, "", message)


class Restorer(Protocol):
    # Requests to one mailbox (or drive) are limited together: this names it.
    throttle_key: str

    def find_restored(self, job_items: list[RestoreJobItem]) -> dict[int, str]:
        """{job item id: graph id} of items already restored by an earlier attempt."""
        ...

    def restore(self, job_item: RestoreJobItem) -> Outcome: ...


def marker_value(job_item: RestoreJobItem) -> str:
    """What a restored item carries so a retry can find it: unique per job and item."""
    return f"{job_item.job_id}:{job_item.item_id}"


def restorer_for(job: RestoreJob, graph: GraphClient) -> Restorer:
    """The workload's restorer, named in its WORKLOADS entry (restore/workloads.py)."""
    workload = job.object.workload
    if workload not in WORKLOADS:
        raise LookupError(f"Restoring {workload} is not supported yet.")
    restorer: Restorer = import_string(WORKLOADS[workload].restorer)(job, graph)
    return restorer
