"""Restoring contacts into Outlook through Graph, as the person.

A contact is `POST …/contactFolders/{id}/contacts` (the default folder: `…/contacts`)
with the fields the backup read, the restore marker (`LifeboatRestoreMarker`, as mail's)
and the original contact's id (`LifeboatOriginalId`); then its photo, if it had one, is
`PUT …/contacts/{id}/photo/$value`. Folders are found by id, else by path under the
default folder (made if missing); a new folder holds the restored tree below it.

Before anything is written, e-mail addresses are checked (Outlook stores what it is
given; a contact with an address no one can write to is refused with that address named).

Collisions: "skip" skips a contact when the folder holds one from an earlier Lifeboat
restore of it (`LifeboatOriginalId`), or one with the same name and e-mail address (the
original, or one another tool restored); "keep both" adds it anyway.
"""

from __future__ import annotations

import base64
import threading
from typing import Any
from urllib.parse import quote

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from portal.graph import GraphClient, GraphError
from restore.blobs import blob_store
from restore.catalog.events import document
from restore.jobs.restorers import Action, Outcome, Step, Verdict, collision_step, marker_value
from restore.jobs.restorers.calendar import MARKER_GUID, MARKER_PROPERTY, _any, _quote
from restore.models import Folder, Item, RestoreJob, RestoreJobItem

ORIGIN_PROPERTY = f"String {{{MARKER_GUID}}} Name LifeboatOriginalId"
NO_CONTENT = "The backup holds no content for this contact."
ALREADY_THERE = "The contact is already in that folder."
NOT_WRITTEN = {"id", "changeKey", "parentFolderId", "createdDateTime", "lastModifiedDateTime"}
VERIFY_SELECT = "displayName,companyName,emailAddresses,businessPhones,mobilePhone,personalNotes"


class Refused(Exception):
    """A contact Lifeboat will not write; `str()` says why, for the job log."""


def contact_json(saved: dict[str, Any], item: Item, marker: str) -> dict[str, Any]:
    data = {
        k: v
        for k, v in saved.items()
        if not k.startswith("@") and k not in NOT_WRITTEN and v not in (None, "", [], {})
    }
    for email in data.get("emailAddresses") or []:
        address = str(email.get("address") or "")
        try:
            validate_email(address)
        except ValidationError:
            raise Refused(f"Its e-mail address “{address[:80]}” is not a valid address.") from None
    data["singleValueExtendedProperties"] = [
        {"id": MARKER_PROPERTY, "value": marker},
        {"id": ORIGIN_PROPERTY, "value": item.graph_id},
    ]
    return data


def _photo_type(content: bytes) -> str:
    if content.startswith(b"\x89PNG"):
        return "image/png"
    if content[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return "image/jpeg"


class ContactsRestorer:
    def __init__(self, job: RestoreJob, graph: GraphClient) -> None:
        self.job = job
        self.graph = graph
        self.user = f"users/{job.object.owner_id}"
        self.throttle_key = f"mail:{job.object.tenant_id}:{job.object.owner_id}"
        self._targets: dict[str, str | None] = {}
        self._created: set[str] = set()
        self._lock = threading.Lock()
        self._root: str | None = None

    # --- where it goes ------------------------------------------------------------------

    def _children(self, parent: str | None) -> str:
        base = f"{self.user}/contactFolders"
        return base if parent is None else f"{base}/{parent}/childFolders"

    def _child(self, parent: str | None, name: str, *, create: bool) -> str | None:
        """`parent`'s folder `name` (None: the default folder's), made if missing."""
        for folder in self.graph.iterate(self._children(parent), **{"$top": "100"}):
            if str(folder.get("displayName", "")).casefold() == name.casefold():
                return str(folder["id"])
        if not create:
            return None
        try:
            made = str(self.graph.post(self._children(parent), {"displayName": name})["id"])
        except GraphError as error:
            if error.status != 409:
                raise
            return self._child(parent, name, create=False)
        self._created.add(made)
        return made

    def _under(self, top: str | None, path: str, *, create: bool) -> str | None:
        """The folder at `path` (below "Contacts/") under `top` (None: the default folder)."""
        parent = top
        for name in [s for s in path.split("/")[1:] if s]:
            parent = self._child(parent, name, create=create)
            if parent is None:
                return None
        return parent

    def _target(self, folder: Folder, *, create: bool = True) -> str | None:
        """The folder id `folder`'s contacts go to; "" is the default folder; None: it
        would have to be made (a dry run)."""
        with self._lock:
            if folder.path in self._targets:
                return self._targets[folder.path]
            target: str | None
            if self.job.target == RestoreJob.Target.ORIGINAL:
                if folder.well_known == "contacts":
                    target = ""
                else:
                    try:
                        target = str(
                            self.graph.get(
                                f"{self.user}/contactFolders/{folder.graph_id}", **{"$select": "id"}
                            )["id"]
                        )
                    except GraphError as error:
                        if not error.is_not_found:
                            raise
                        target = self._under(None, folder.path, create=create)
            else:
                top = self._child(None, self.job.target_name, create=create)
                target = (
                    None
                    if top is None
                    else (
                        self._under(top, folder.path, create=create) if "/" in folder.path else top
                    )
                )
            self._targets[folder.path] = target
            return target

    def _collection(self, folder_id: str) -> str:
        return (
            f"{self.user}/contactFolders/{folder_id}/contacts"
            if folder_id
            else f"{self.user}/contacts"
        )

    # --- markers and collisions ---------------------------------------------------------

    def find_restored(self, job_items: list[RestoreJobItem]) -> dict[int, str]:
        urls = {}
        for job_item in job_items:
            target = self._target(job_item.item.folder, create=False)
            if target is not None:
                condition = quote(_any(MARKER_PROPERTY, marker_value(job_item)))
                urls[str(job_item.pk)] = (
                    f"/{self._collection(target)}?$filter={condition}&$select=id&$top=1"
                )
        found: dict[int, str] = {}
        for key, (status, body) in self.graph.get_many(urls).items():
            if status == 200 and (body or {}).get("value"):
                found[int(key)] = str(body["value"][0]["id"])
            elif status >= 400:
                error = (body or {}).get("error", {})
                raise GraphError(status, str(error.get("code", "")), str(error.get("message")))
        return found

    def _existing_urls(
        self, folder_id: str, item: Item, saved: dict[str, Any], key: str
    ) -> dict[str, str]:
        base = f"/{self._collection(folder_id)}"
        origin = quote(_any(ORIGIN_PROPERTY, item.graph_id))
        urls = {f"{key}o": f"{base}?$filter={origin}&$select=id&$top=1"}
        if saved.get("displayName"):
            name = quote(f"displayName eq {_quote(str(saved['displayName']))}")
            urls[f"{key}n"] = f"{base}?$filter={name}&$select=id,emailAddresses&$top=20"
        return urls

    @staticmethod
    def _matches(saved: dict[str, Any], kind: str, body: Any) -> str | None:
        for found in (body or {}).get("value") or []:
            if kind == "o":
                return str(found["id"])
            mine = {
                str(e.get("address") or "").casefold() for e in saved.get("emailAddresses") or []
            }
            theirs = {
                str(e.get("address") or "").casefold() for e in found.get("emailAddresses") or []
            }
            if mine == theirs or mine & theirs:
                return str(found["id"])
        return None

    def _step(self, existing: str | None) -> Step:
        """What the collision policy makes of an item already there (or not)."""
        return collision_step(
            self.job,
            existing,
            ALREADY_THERE,
            "The contact is already in that folder; a second one is added.",
        )

    # --- restoring ----------------------------------------------------------------------

    def restore(self, job_item: RestoreJobItem) -> Outcome:
        item = job_item.item
        if not item.content_sha256:
            return Outcome.failed(NO_CONTENT)
        saved = document(item)
        try:
            data = contact_json(saved, item, marker_value(job_item))
        except Refused as why:
            return Outcome.failed(str(why))
        folder_id = self._target(item.folder)
        if folder_id is None:
            raise RuntimeError("The target folder was not made.")
        if self.job.collision == RestoreJob.Collision.SKIP and folder_id not in self._created:
            answers = self.graph.get_many(self._existing_urls(folder_id, item, saved, "x"))
            for key, (status, body) in sorted(answers.items()):
                if status == 200 and (existing := self._matches(saved, key[-1], body)):
                    return Outcome.skipped(ALREADY_THERE, existing)
        try:
            created = self.graph.post(self._collection(folder_id), data)
        except GraphError as error:
            if error.status == 400:
                return Outcome.failed(
                    f"Microsoft 365 refused the contact ({error.code}): {error.message}"[:480]
                )
            raise
        contact_id = str(created["id"])
        photo = (item.meta or {}).get("photo")
        if photo:
            with blob_store().open(str(photo["blob"])) as stream:
                content = stream.read()
            self.graph.request(
                "PUT",
                f"{self.user}/contacts/{contact_id}/photo/$value",
                data=content,
                headers={"Content-Type": _photo_type(content)},
            )
        return Outcome.done(contact_id)

    # --- a dry run ----------------------------------------------------------------------

    def plan(self, job_items: list[RestoreJobItem]) -> list[Step]:
        steps: list[Step | None] = [None] * len(job_items)
        lookups: dict[str, str] = {}
        saved_of: dict[int, dict[str, Any]] = {}
        for index, job_item in enumerate(job_items):
            item = job_item.item
            if not item.content_sha256:
                steps[index] = Step(Action.CANNOT, NO_CONTENT)
                continue
            saved_of[index] = saved = document(item)
            try:
                contact_json(saved, item, "")
            except Refused as why:
                steps[index] = Step(Action.CANNOT, str(why))
                continue
            folder_id = self._target(item.folder, create=False)
            if folder_id is None:
                steps[index] = Step(Action.RESTORE, "Its folder is created first.")
                continue
            lookups |= self._existing_urls(folder_id, item, saved, str(index))
        found: set[int] = set()
        for key, (status, body) in self.graph.get_many(lookups).items():
            index = int(key[:-1])
            if status >= 400:
                steps[index] = Step(
                    Action.CANNOT,
                    f"Microsoft 365 answered {status} when asked what is in the folder.",
                )
            elif self._matches(saved_of[index], key[-1], body):
                found.add(index)
        for index in range(len(job_items)):
            if steps[index] is None:
                steps[index] = self._step("found" if index in found else None)
        return [step or Step(Action.RESTORE) for step in steps]

    # --- reading back -------------------------------------------------------------------

    def verify(self, job_items: list[RestoreJobItem]) -> dict[int, Verdict]:
        expand = quote(f"singleValueExtendedProperties($filter=id eq {_quote(MARKER_PROPERTY)})")
        urls: dict[str, str] = {}
        for ji in job_items:
            urls[f"{ji.pk}c"] = (
                f"/{self.user}/contacts/{ji.result_graph_id}?$select={VERIFY_SELECT}&$expand={expand}"
            )
            if (ji.item.meta or {}).get("photo"):
                urls[f"{ji.pk}p"] = f"/{self.user}/contacts/{ji.result_graph_id}/photo/$value"
        answers = self.graph.get_many(urls)
        verdicts: dict[int, Verdict] = {}
        for ji in job_items:
            status, body = answers.get(f"{ji.pk}c", (500, None))
            if status == 404:
                verdicts[ji.pk] = Verdict.differs(["not found in the folder"])
                continue
            if status >= 400:
                verdicts[ji.pk] = Verdict.unreadable(
                    f"Could not be read back: Microsoft 365 answered {status}."
                )
                continue
            differences = self._compare(ji, body or {}, answers.get(f"{ji.pk}p"))
            verdicts[ji.pk] = Verdict.differs(differences) if differences else Verdict.matches()
        return verdicts

    def _compare(
        self, job_item: RestoreJobItem, found: dict[str, Any], photo: tuple[int, Any] | None
    ) -> list[str]:
        saved = document(job_item.item)
        differences = []
        for name in ("displayName", "companyName", "mobilePhone", "personalNotes"):
            if (found.get(name) or "") != (saved.get(name) or ""):
                differences.append(name)
        for name in ("emailAddresses", "businessPhones"):
            if (found.get(name) or []) != (saved.get(name) or []):
                differences.append(name)
        properties = {
            str(p.get("id", "")).casefold(): p.get("value")
            for p in found.get("singleValueExtendedProperties") or []
        }
        if properties.get(MARKER_PROPERTY.casefold()) != marker_value(job_item):
            differences.append("restore marker missing")
        if photo is not None:
            status, body = photo
            with blob_store().open(str(job_item.item.meta["photo"]["blob"])) as stream:
                expected = stream.read()
            if status != 200 or base64.b64decode(str(body)) != expected:
                differences.append("photo")
        return differences
