"""Restoring To Do tasks through Graph, as the person (delegated Tasks.ReadWrite).

A task is `POST …/todo/lists/{id}/tasks` with what the backup read (title, body,
importance, status, categories, due/reminder/start/completed dates with their time
zones, reminder, recurrence), its linked resources, and an open extension
(`com.lifeboat.restore`, Graph's documented way to mark a todoTask: To Do has no
extended properties) holding the restore marker ("<job>:<item>") and the original
task's id. Then its checklist items (`POST …/checklistItems`) and attachments: up to
3 MB inline (`POST …/attachments`), 3 to 25 MB through `attachments/createUploadSession`
(delegated only) in ranges of at most 4 MB. A task with checklist items or attachments
is marked `…:incomplete` until they are all there (a PATCH of the extension): a retry
deletes an incomplete one and starts again; `find_restored` only finds complete ones.

Where it goes: the original list (by id, else a list of the same name, made if missing)
or a new list ("Restored tasks <date>"). Collisions: "skip" skips a task when the list
still holds the original (same id) or a task an earlier Lifeboat restore made of it
(`originalId` in the extension); "keep both" adds it anyway.

Refused before anything is written, with the reason in the job log: an attachment over
the 25 MB To Do takes.
"""

from __future__ import annotations

import base64
import threading
from typing import Any
from urllib.parse import quote

from portal.graph import GraphClient, GraphError
from restore.blobs import blob_store
from restore.catalog.events import document
from restore.jobs.restorers import (
    Action,
    Outcome,
    Step,
    Verdict,
    collision_step,
    marker_value,
    upload_attachment,
)
from restore.jobs.restorers.mail import INCOMPLETE
from restore.models import Folder, Item, RestoreJob, RestoreJobItem

EXTENSION = "com.lifeboat.restore"
MAX_INLINE = 3 * 1024 * 1024  # POST …/attachments
MAX_ATTACHMENT = 25 * 1024 * 1024  # a To Do attachment by any route
NO_CONTENT = "The backup holds no content for this task."
ALREADY_THERE = "The task is already in that list."
COPIED = (
    "title",
    "body",
    "importance",
    "status",
    "categories",
    "dueDateTime",
    "reminderDateTime",
    "startDateTime",
    "completedDateTime",
    "isReminderOn",
    "recurrence",
)


class Refused(Exception):
    """A task Lifeboat will not write; `str()` says why, for the job log."""


def _q(value: str) -> str:
    return quote(value, safe="")


def check(item: Item) -> None:
    for attachment in (item.meta or {}).get("attachments") or []:
        size = int(attachment.get("size") or 0)
        if size > MAX_ATTACHMENT:
            raise Refused(
                f"Its attachment “{attachment.get('name')}” ({size / 1024 / 1024:.1f} MB) is over "
                "the 25 MB Microsoft To Do takes for an attachment; download it instead."
            )


def task_json(saved: dict[str, Any], marker: str, original_id: str) -> dict[str, Any]:
    task = saved.get("task") or {}
    data: dict[str, Any] = {k: task[k] for k in COPIED if task.get(k) not in (None, "", [], {})}
    if task.get("isReminderOn") is not None:
        data["isReminderOn"] = bool(task["isReminderOn"])
    linked = [
        {k: v for k, v in r.items() if v not in (None, "")}
        for r in saved.get("linkedResources") or []
    ]
    if linked:
        data["linkedResources"] = linked
    data["extensions"] = [
        {
            "@odata.type": "microsoft.graph.openTypeExtension",
            "extensionName": EXTENSION,
            "marker": marker,
            "originalId": original_id,
        }
    ]
    return data


class TodoRestorer:
    def __init__(self, job: RestoreJob, graph: GraphClient) -> None:
        self.job = job
        self.graph = graph
        self.user = f"users/{job.object.owner_id}"
        # To Do is served by Exchange: the same per-mailbox limits as mail and calendars.
        self.throttle_key = f"mail:{job.object.tenant_id}:{job.object.owner_id}"
        self._targets: dict[str, str | None] = {}
        self._created: set[str] = set()
        self._lock = threading.Lock()
        # The marks of each target list as they were before this run wrote to it (read
        # once per list, not once per item): what earlier restores left there.
        self._earlier: dict[str, dict[str, tuple[str, str]]] = {}
        # Markers this run already tried to write: a second try reads the list again (the
        # first may have left an incomplete task whose answer was lost).
        self._tried: set[str] = set()

    # --- where it goes ------------------------------------------------------------------

    def _named(self, name: str, *, create: bool) -> str | None:
        for found in self.graph.iterate(f"{self.user}/todo/lists", **{"$top": "100"}):
            if str(found.get("displayName") or "").casefold() == name.casefold():
                return str(found["id"])
        if not create:
            return None
        made = str(self.graph.post(f"{self.user}/todo/lists", {"displayName": name})["id"])
        self._created.add(made)
        return made

    def _target(self, folder: Folder, *, create: bool = True) -> str | None:
        """The list id `folder`'s tasks go to; None: it would have to be made (a dry run)."""
        key = folder.graph_id
        with self._lock:
            if key in self._targets:
                return self._targets[key]
            target: str | None
            if self.job.target == RestoreJob.Target.ORIGINAL:
                try:
                    target = str(
                        self.graph.get(f"{self.user}/todo/lists/{_q(folder.graph_id)}")["id"]
                    )
                except GraphError as error:
                    if not error.is_not_found:
                        raise
                    target = self._named(folder.name, create=create)
            else:
                target = self._named(self.job.target_name, create=create)
            self._targets[key] = target
            return target

    def _tasks(self, list_id: str) -> str:
        return f"{self.user}/todo/lists/{_q(list_id)}/tasks"

    # --- markers and collisions ---------------------------------------------------------

    def _marked(self, list_id: str) -> dict[str, tuple[str, str]]:
        """{task id: (marker, original id)} of the tasks of the list Lifeboat restored."""
        found = {}
        for task in self.graph.iterate(
            self._tasks(list_id),
            **{
                "$select": "id",
                "$expand": f"extensions($filter=id eq '{EXTENSION}')",
                "$top": "100",
            },
        ):
            for extension in task.get("extensions") or []:
                if str(extension.get("id") or extension.get("extensionName")) == EXTENSION:
                    found[str(task["id"])] = (
                        str(extension.get("marker") or ""),
                        str(extension.get("originalId") or ""),
                    )
        return found

    def _earlier_marks(self, list_id: str) -> dict[str, tuple[str, str]]:
        with self._lock:
            if list_id not in self._earlier:
                self._earlier[list_id] = self._marked(list_id)
            return self._earlier[list_id]

    def find_restored(self, job_items: list[RestoreJobItem]) -> dict[int, str]:
        by_list: dict[str, dict[str, tuple[str, str]]] = {}
        found: dict[int, str] = {}
        for job_item in job_items:
            target = self._target(job_item.item.folder, create=False)
            if target is None:
                continue
            if target not in by_list:
                by_list[target] = self._marked(target)
            for task_id, (marker, _original) in by_list[target].items():
                if marker == marker_value(job_item):
                    found[job_item.pk] = task_id
        return found

    def _existing(self, list_id: str, item: Item) -> str | None:
        """The original task, or an earlier Lifeboat restore of it, in the list."""
        if list_id in self._created:
            return None
        try:
            self.graph.get(f"{self._tasks(list_id)}/{_q(item.graph_id)}", **{"$select": "id"})
            return item.graph_id
        except GraphError as error:
            if not error.is_not_found:
                raise
        for task_id, (marker, original) in list(self._earlier_marks(list_id).items()):
            if original == item.graph_id and not marker.endswith(INCOMPLETE):
                return task_id
        return None

    def _step(self, existing: str | None) -> Step:
        return collision_step(
            self.job,
            existing,
            ALREADY_THERE,
            "The task is already in that list; a second one is added.",
        )

    # --- restoring ----------------------------------------------------------------------

    def restore(self, job_item: RestoreJobItem) -> Outcome:
        item = job_item.item
        if not item.content_sha256:
            return Outcome.failed(NO_CONTENT)
        try:
            check(item)
        except Refused as why:
            return Outcome.failed(str(why))
        saved = document(item)
        list_id = self._target(item.folder)
        if list_id is None:
            raise RuntimeError("The target list was not made.")
        marker = marker_value(job_item)
        self._delete_incomplete(list_id, marker)
        if self.job.collision == RestoreJob.Collision.SKIP and (
            existing := self._existing(list_id, item)
        ):
            return Outcome.skipped(ALREADY_THERE, existing)
        attachments = (item.meta or {}).get("attachments") or []
        checklist = saved.get("checklistItems") or []
        whole = not attachments and not checklist
        body = task_json(saved, marker if whole else marker + INCOMPLETE, item.graph_id)
        try:
            created = self.graph.post(self._tasks(list_id), body)
        except GraphError as error:
            if error.status == 400:
                return Outcome.failed(
                    f"Microsoft To Do refused the task ({error.code}): {error.message}"[:480]
                )
            raise
        task = f"{self._tasks(list_id)}/{_q(str(created['id']))}"
        if not whole:
            for entry in checklist:
                self.graph.post(
                    f"{task}/checklistItems",
                    {
                        k: entry[k]
                        for k in ("displayName", "isChecked", "checkedDateTime")
                        if entry.get(k) is not None
                    },
                )
            for attachment in attachments:
                self._attach(task, attachment)
            self.graph.patch(
                f"{task}/extensions/{EXTENSION}", {"marker": marker, "originalId": item.graph_id}
            )
        return Outcome.done(str(created["id"]))

    def _delete_incomplete(self, list_id: str, marker: str) -> None:
        """Delete what an interrupted try left of this item (marked `…:incomplete`)."""
        with self._lock:
            again = marker in self._tried
            self._tried.add(marker)
        if list_id in self._created and not again:
            return
        marks = self._marked(list_id) if again else self._earlier_marks(list_id)
        for task_id, (found, _original) in list(marks.items()):
            if found == marker + INCOMPLETE:
                self.graph.delete(f"{self._tasks(list_id)}/{_q(task_id)}")

    def _attach(self, task: str, attachment: dict[str, Any]) -> None:
        size = int(attachment.get("size") or 0)
        name = str(attachment.get("name") or "attachment")
        content_type = str(attachment.get("contentType") or "application/octet-stream")
        if size <= MAX_INLINE:
            with blob_store().open(str(attachment["blob"])) as stream:
                content = stream.read()
            self.graph.post(
                f"{task}/attachments",
                {
                    "@odata.type": "#microsoft.graph.taskFileAttachment",
                    "name": name,
                    "contentType": content_type,
                    "contentBytes": base64.b64encode(content).decode("ascii"),
                },
            )
            return
        session = self.graph.post(
            f"{task}/attachments/createUploadSession",
            {
                "attachmentInfo": {
                    "attachmentType": "file",
                    "name": name,
                    "size": size,
                    "contentType": content_type,
                }
            },
        )
        upload_attachment(self.graph, str(session["uploadUrl"]), str(attachment["blob"]), size)

    # --- a dry run ----------------------------------------------------------------------

    def plan(self, job_items: list[RestoreJobItem]) -> list[Step]:
        steps = []
        for job_item in job_items:
            item = job_item.item
            if not item.content_sha256:
                steps.append(Step(Action.CANNOT, NO_CONTENT))
                continue
            try:
                check(item)
            except Refused as why:
                steps.append(Step(Action.CANNOT, str(why)))
                continue
            list_id = self._target(item.folder, create=False)
            if list_id is None:
                steps.append(Step(Action.RESTORE, "Its list is created first."))
                continue
            steps.append(self._step(self._existing(list_id, item)))
        return steps

    # --- reading back -------------------------------------------------------------------

    def verify(self, job_items: list[RestoreJobItem]) -> dict[int, Verdict]:
        urls: dict[str, str] = {}
        for ji in job_items:
            list_id = self._target(ji.item.folder, create=False) or ""
            # $batch urls are not decoded again: ids as they are (URL-safe base64).
            base = f"/{self.user}/todo/lists/{list_id}/tasks/{ji.result_graph_id}"
            urls[f"{ji.pk}t"] = f"{base}?$expand=extensions($filter=id eq '{EXTENSION}')"
            urls[f"{ji.pk}c"] = f"{base}/checklistItems"
            urls[f"{ji.pk}a"] = f"{base}/attachments"
        answers = self.graph.get_many(urls)
        verdicts: dict[int, Verdict] = {}
        for ji in job_items:
            status, body = answers.get(f"{ji.pk}t", (500, None))
            if status == 404:
                verdicts[ji.pk] = Verdict.differs(["not found in the list"])
                continue
            if status >= 400:
                verdicts[ji.pk] = Verdict.unreadable(
                    f"Could not be read back: Microsoft To Do answered {status}."
                )
                continue
            differences = self._compare(ji, body or {}, answers)
            verdicts[ji.pk] = Verdict.differs(differences) if differences else Verdict.matches()
        return verdicts

    def _compare(
        self, job_item: RestoreJobItem, found: dict[str, Any], answers: dict[str, tuple[int, Any]]
    ) -> list[str]:
        saved = document(job_item.item)
        task = saved.get("task") or {}
        differences = [
            name
            for name in ("title", "status", "importance")
            if (found.get(name) or "") != (task.get(name) or "")
        ]
        if ((found.get("body") or {}).get("content") or "") != (
            (task.get("body") or {}).get("content") or ""
        ):
            differences.append("body")
        for name in ("dueDateTime", "reminderDateTime", "startDateTime"):
            if (found.get(name) or {}).get("dateTime") != (task.get(name) or {}).get("dateTime"):
                differences.append(name)
        checklist = [
            str(c.get("displayName"))
            for c in (answers.get(f"{job_item.pk}c", (0, {}))[1] or {}).get("value") or []
        ]
        if sorted(checklist) != sorted(
            str(c.get("displayName")) for c in saved.get("checklistItems") or []
        ):
            differences.append("checklist")
        names = [
            str(a.get("name"))
            for a in (answers.get(f"{job_item.pk}a", (0, {}))[1] or {}).get("value") or []
        ]
        if sorted(names) != sorted(
            str(a.get("name")) for a in (job_item.item.meta or {}).get("attachments") or []
        ):
            differences.append("attachments")
        markers = [str(e.get("marker") or "") for e in found.get("extensions") or []]
        if marker_value(job_item) not in markers:
            differences.append("restore marker missing")
        return differences
