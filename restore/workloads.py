"""The workloads Lifeboat backs up and restores, as data: one entry per workload.

Adding a workload (calendars, contacts, …) means adding a `Workload` choice, an entry
here and its backup/restore modules — not copying views or jobs. The permission each
operation needs is not here: it is in portal/permissions.py, the one table.
"""

from __future__ import annotations

from dataclasses import dataclass

from portal import permissions
from restore.models import Item, Workload


@dataclass(frozen=True)
class WorkloadInfo:
    workload: str
    label: str
    item_kind: str  # Item.Kind of its items
    item_label: str  # "message", "file"
    folder_label: str  # "folder"

    def requirement(self, entity: str, operation: str) -> permissions.Requirement:
        return permissions.requirement(self.workload, entity, operation)


WORKLOADS: dict[str, WorkloadInfo] = {
    Workload.MAIL: WorkloadInfo(Workload.MAIL, "Mailbox", Item.Kind.MESSAGE, "message", "folder"),
    Workload.ONEDRIVE: WorkloadInfo(
        Workload.ONEDRIVE, "OneDrive", Item.Kind.FILE, "file", "folder"
    ),
}


def info(workload: str) -> WorkloadInfo:
    return WORKLOADS[workload]
