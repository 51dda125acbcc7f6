"""The workloads Lifeboat backs up and restores, as data: one entry per workload.

Adding a workload (calendars, contacts, …) means a `Workload` choice, an entry here
naming its backup reader (restore/backup/) and its restorer (restore/jobs/restorers/),
a preview partial and the sandbox's endpoints — not copying views or jobs (the recipe is
in docs/architecture.md). Reader and restorer are named by dotted path, so this module
imports neither and both can import it. The permission each operation needs is not here:
it is in portal/permissions.py, the one table.
"""

from __future__ import annotations

from dataclasses import dataclass

from portal import permissions
from restore.models import Item, RestoreJob, Workload

C = RestoreJob.Collision


@dataclass(frozen=True)
class WorkloadInfo:
    workload: str
    label: str
    item_kind: str  # Item.Kind of its items
    item_label: str  # "message", "file"
    folder_label: str  # "folder"
    # A function Context -> Iterator[Change] (restore/backup/base.py).
    reader: str
    # A class (job, graph) -> Restorer (restore/jobs/restorers/__init__.py).
    restorer: str
    # The partial of the item page that shows one of its items (templates/restore/items/).
    item_template: str
    # What a restore may do when the item is already there (restore/jobs/lifecycle.py
    # refuses the rest; the restore form offers only these).
    collisions: tuple[str, ...] = (C.SKIP, C.KEEP_BOTH)
    # The sort orders its folder pages offer (restore/catalog/browse.py SORTS).
    sorts: tuple[str, ...] = ("date", "date-asc", "name", "size")

    def requirement(self, entity: str, operation: str) -> permissions.Requirement:
        return permissions.requirement(self.workload, entity, operation)


WORKLOADS: dict[str, WorkloadInfo] = {
    Workload.MAIL: WorkloadInfo(
        Workload.MAIL,
        "Mailbox",
        Item.Kind.MESSAGE,
        "message",
        "folder",
        reader="restore.backup.mail.read",
        restorer="restore.jobs.restorers.mail.MailRestorer",
        item_template="restore/items/message.html",
        # No overwrite: Exchange can't replace a message in place (a new one gets a new id
        # and PR_MESSAGE_FLAGS can't be rewritten), and deleting someone's current mail to
        # put an old copy back loses what changed since. Veeam's portal offers the same two.
        collisions=(C.SKIP, C.KEEP_BOTH),
        sorts=("date", "date-asc", "name", "size", "sender"),
    ),
    Workload.ONEDRIVE: WorkloadInfo(
        Workload.ONEDRIVE,
        "OneDrive",
        Item.Kind.FILE,
        "file",
        "folder",
        reader="restore.backup.onedrive.read",
        restorer="restore.jobs.restorers.onedrive.DriveRestorer",
        item_template="restore/items/file.html",
        collisions=(C.SKIP, C.KEEP_BOTH, C.OVERWRITE),
    ),
    # A site's document library is a drive: the OneDrive reader and restorer serve it
    # (graph_ref = the drive id), with the person's delegated token on restore.
    Workload.SHAREPOINT: WorkloadInfo(
        Workload.SHAREPOINT,
        "SharePoint library",
        Item.Kind.FILE,
        "file",
        "folder",
        reader="restore.backup.onedrive.read",
        restorer="restore.jobs.restorers.onedrive.DriveRestorer",
        item_template="restore/items/file.html",
        collisions=(C.SKIP, C.KEEP_BOTH, C.OVERWRITE),
    ),
}


def info(workload: str) -> WorkloadInfo:
    return WORKLOADS[workload]
