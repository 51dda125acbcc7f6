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

# Outlook items (messages, events, contacts) offer skip / keep both: Exchange can't replace
# an item in place (a new one gets a new id), and deleting someone's current item to put
# an old copy back loses what changed since. Veeam's portal offers the same two for mail.
OUTLOOK_COLLISIONS = (RestoreJob.Collision.SKIP, RestoreJob.Collision.KEEP_BOTH)


@dataclass(frozen=True)
class WorkloadInfo:
    workload: str
    label: str
    item_kind: str  # Item.Kind of its items
    item_label: str  # "message", "file", "event", "contact"
    folder_label: str  # "folder", "calendar"
    # A function Context -> Iterator[Change] (restore/backup/base.py).
    reader: str
    # A class (job, graph) -> Restorer (restore/jobs/restorers/__init__.py).
    restorer: str
    # The partial of the item page that shows one of its items (templates/restore/items/).
    item_template: str
    # The collision policies a restore may choose (RestoreJob.Collision), the first the default.
    collisions: tuple[str, ...] = OUTLOOK_COLLISIONS
    # How its items download when the stored content is not itself the file: a key of
    # restore/catalog/exports.EXPORTS ("ics", "vcf"), one file for one item or many.
    export: str = ""
    # The listing's column for `Item.sender`, and what a restore page tells beforehand.
    sender_label: str = "From"
    restore_note: str = ""
    # What a new folder (list, calendar) a restore makes is called, before its date.
    restored_name: str = "Restored items"
    # Another download of one item besides `export`: a key of EXPORTS ("json").
    second_export: str = ""
    # The sort orders its folder pages offer (restore/catalog/browse.py SORTS; "sender"
    # sorts by the column `sender_label` names).
    sorts: tuple[str, ...] = ("date", "date-asc", "name", "size", "sender")

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
        collisions=(*OUTLOOK_COLLISIONS, RestoreJob.Collision.OVERWRITE),
        sender_label="Modified by",
        sorts=("date", "date-asc", "name", "size"),
    ),
    Workload.CALENDAR: WorkloadInfo(
        Workload.CALENDAR,
        "Calendar",
        Item.Kind.EVENT,
        "event",
        "calendar",
        reader="restore.backup.calendar.read",
        restorer="restore.jobs.restorers.calendar.CalendarRestorer",
        item_template="restore/items/event.html",
        export="ics",
        sender_label="Organizer",
        restore_note=(
            "Restored meetings invite no one: their attendees are listed at the end of the "
            "event's text instead, and you become the organizer."
        ),
    ),
    Workload.CONTACTS: WorkloadInfo(
        Workload.CONTACTS,
        "Contacts",
        Item.Kind.CONTACT,
        "contact",
        "folder",
        reader="restore.backup.contacts.read",
        restorer="restore.jobs.restorers.contacts.ContactsRestorer",
        item_template="restore/items/contact.html",
        export="vcf",
        sender_label="Company",
    ),
    # Microsoft To Do: task lists as folders, tasks as items (checklist, linked resources
    # and attachments part of the task). Backed up with Tasks.Read.All or as the person;
    # restored as the person (attachment upload sessions are delegated only).
    Workload.TASKS: WorkloadInfo(
        Workload.TASKS,
        "To Do",
        Item.Kind.TASK,
        "task",
        "list",
        reader="restore.backup.todo.read",
        restorer="restore.jobs.restorers.todo.TodoRestorer",
        item_template="restore/items/task.html",
        export="vtodo",
        second_export="json",
        sender_label="Status",
        restore_note=(
            "Tasks come back with their steps, linked resources and attachments; a task "
            "restored again is found by its marker and not added twice."
        ),
        restored_name="Restored tasks",
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
        collisions=(*OUTLOOK_COLLISIONS, RestoreJob.Collision.OVERWRITE),
        sender_label="Modified by",
        sorts=("date", "date-asc", "name", "size"),
    ),
}


def info(workload: str) -> WorkloadInfo:
    return WORKLOADS[workload]
