"""Restoring files into a OneDrive (a user's or a group's drive) through Graph.

Up to 4 MB a file goes in one `PUT {parent}:/{name}:/content`; above, through an upload
session (`createUploadSession`, then fragments of 10 x 320 KiB read from the blob store
one at a time, without the Authorization header the pre-authenticated URL refuses).
Collisions map onto `@microsoft.graph.conflictBehavior`: skip → fail (409 = skipped),
keep both → rename ("report 1.docx"), overwrite → replace (a new version of the file).

Files carry no extended properties, so the marker of a restored file is its content: a
retry of an item an earlier attempt may have uploaded first lists the target folder and
takes a file with the same name (or OneDrive's renamed "name N.ext") whose size and
quickXorHash equal the backed-up content's.

A dry run (`plan`) lists each target folder once and applies the same rules Graph's
conflict behaviour does: a name already there (case-insensitive) is skipped, kept both as
OneDrive's "name N.ext" (`renamed`, the same rule a retry's lookup uses) or overwritten;
it also checks the drive's quota. After writing, `verify` reads each file back
(`$select=id,size,file`, in `$batch`es) and compares size and quickXorHash.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import quote

from portal.graph import GraphClient, GraphError
from restore.blobs import blob_store, iter_chunks
from restore.jobs.restorers import Action, Outcome, Step, Verdict
from restore.models import EntityKind, Item, RestoreJob, RestoreJobItem
from restore.quickxor import quick_xor_hash_of_chunks

SIMPLE_UPLOAD_LIMIT = 4 * 1024 * 1024
FRAGMENT = 10 * 320 * 1024  # a multiple of 320 KiB, as upload sessions require
CONFLICT = "@microsoft.graph.conflictBehavior"
NO_CONTENT = "The backup holds no content for this file."
NAME_TAKEN = "A file with this name is already there."
BEHAVIOUR = {
    RestoreJob.Collision.SKIP: "fail",
    RestoreJob.Collision.KEEP_BOTH: "rename",
    RestoreJob.Collision.OVERWRITE: "replace",
}


def _segments(*paths: str) -> list[str]:
    return [s for path in paths for s in path.split("/") if s]


def _stem_and_extension(name: str) -> tuple[str, str]:
    """'report.docx' → ('report', '.docx'); '.profile' and 'README' have no extension."""
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        return name, ""
    return stem, dot + extension


def renamed(name: str, number: int) -> str:
    """OneDrive's name for a kept-both copy: 'report.docx' → 'report 1.docx'."""
    stem, extension = _stem_and_extension(name)
    return f"{stem} {number}{extension}"


def renamed_pattern(name: str) -> re.Pattern[str]:
    stem, extension = _stem_and_extension(name)
    return re.compile(re.escape(stem) + r" \d+" + re.escape(extension), re.IGNORECASE)


def free_name(name: str, taken: set[str]) -> str:
    """The name "rename" gives `name` in a folder holding `taken` (casefolded names)."""
    number = 1
    while renamed(name, number).casefold() in taken:
        number += 1
    return renamed(name, number)


class DriveRestorer:
    def __init__(self, job: RestoreJob, graph: GraphClient) -> None:
        self.job = job
        self.graph = graph
        obj = job.destination  # the source drive, or another person's (target=another)
        if obj.graph_ref:
            self.drive = f"drives/{obj.graph_ref}"
        elif obj.entity == EntityKind.GROUP:
            self.drive = f"groups/{obj.owner_id}/drive"
        else:
            self.drive = f"users/{obj.owner_id}/drive"
        self.throttle_key = f"drive:{obj.tenant_id}:{obj.graph_ref or obj.owner_id}"
        self.behaviour = BEHAVIOUR[RestoreJob.Collision(job.collision)]
        self._parents: dict[str, tuple[str, list[str]]] = {}
        self._lock = threading.Lock()

    def _parent(self, item: Item) -> tuple[str, list[str]]:
        """(base, path segments below it) of the folder the file goes in."""
        folder = item.folder
        with self._lock:
            if folder.path in self._parents:
                return self._parents[folder.path]
            if self.job.into_new_folder:
                found = ("root", _segments(self.job.target_name, folder.path))
            elif not folder.graph_id or not folder.path:
                found = ("root", [])
            else:
                try:
                    self.graph.get(f"{self.drive}/items/{folder.graph_id}", **{"$select": "id"})
                    found = (f"items/{folder.graph_id}", [])
                except GraphError as error:
                    if not error.is_not_found:
                        raise
                    # Gone: put it back at its old path (OneDrive creates missing folders).
                    found = ("root", _segments(folder.path))
            self._parents[folder.path] = found
            return found

    def _address(self, base: str, segments: list[str]) -> str:
        if not segments:
            return f"{self.drive}/{base}"
        return f"{self.drive}/{base}:/{'/'.join(quote(s, safe='') for s in segments)}:"

    # --- an earlier attempt's upload ----------------------------------------------------

    def _content_hash(self, item: Item) -> str:
        with blob_store().open(item.content_sha256) as stream:
            return quick_xor_hash_of_chunks(iter_chunks(stream))

    def _uploaded_before(self, item: Item) -> str | None:
        base, segments = self._parent(item)
        try:
            children = list(
                self.graph.iterate(f"{self._address(base, segments)}/children", **{"$top": "200"})
            )
        except GraphError as error:
            if error.is_not_found:
                return None
            raise
        copies = renamed_pattern(item.name)
        candidates = [
            c
            for c in children
            if "file" in c
            and int(c.get("size", -1)) == item.size
            and (c["name"].casefold() == item.name.casefold() or copies.fullmatch(c["name"]))
        ]
        if not candidates:
            return None
        digest = self._content_hash(item)
        for child in candidates:
            if ((child.get("file") or {}).get("hashes") or {}).get("quickXorHash") == digest:
                return str(child["id"])
        return None

    def find_restored(self, job_items: list[RestoreJobItem]) -> dict[int, str]:
        found: dict[int, str] = {}
        for job_item in job_items:
            if job_item.item.content_sha256 and (graph_id := self._uploaded_before(job_item.item)):
                found[job_item.pk] = graph_id
        return found

    # --- uploading ----------------------------------------------------------------------

    def restore(self, job_item: RestoreJobItem) -> Outcome:
        item = job_item.item
        if not item.content_sha256:
            return Outcome.failed(NO_CONTENT)
        base, segments = self._parent(item)
        address = self._address(base, [*segments, item.name])
        size = blob_store().size(item.content_sha256)
        try:
            if size <= SIMPLE_UPLOAD_LIMIT:
                with blob_store().open(item.content_sha256) as stream:
                    data = stream.read()
                response = self.graph.request(
                    "PUT",
                    f"{address}/content",
                    params={CONFLICT: self.behaviour},
                    data=data,
                    headers={"Content-Type": "application/octet-stream"},
                )
                created = response.json()
            else:
                created = self._upload_session(address, item, size)
        except GraphError as error:
            if error.status == 409 and self.behaviour == "fail":
                return Outcome.skipped(NAME_TAKEN)
            raise
        landed = str(created.get("name") or "")
        return Outcome.done(str(created["id"]), landed if landed != item.name else "")

    # --- a dry run ----------------------------------------------------------------------

    def _expected_hash(self, item: Item) -> str:
        """The backed-up content's quickXorHash: as read at backup time, else computed."""
        return str((item.meta or {}).get("quickXorHash") or "") or self._content_hash(item)

    def _listing(self, item: Item, cache: dict[str, dict[str, dict]]) -> dict[str, dict]:
        """{casefolded name: child} of the folder `item` goes to ({} if it is not there yet)."""
        address = self._address(*self._parent(item))
        if address not in cache:
            try:
                children = self.graph.iterate(
                    f"{address}/children", **{"$select": "id,name,size,file,folder", "$top": "200"}
                )
                cache[address] = {str(c["name"]).casefold(): c for c in children}
            except GraphError as error:
                if not error.is_not_found:
                    raise
                cache[address] = {}
        return cache[address]

    def _step(self, item: Item, existing: dict | None, taken: set[str]) -> Step:
        """What the conflict behaviour makes of `item` when `existing` has its name."""
        if existing is None:
            return Step(Action.RESTORE, name=item.name)
        if self.behaviour == "fail":
            same = (
                "file" in existing
                and int(existing.get("size", -1)) == item.size
                and ((existing["file"].get("hashes") or {}).get("quickXorHash"))
                == self._expected_hash(item)
            )
            what = "the same content" if same else "different content"
            return Step(Action.SKIP, f"{NAME_TAKEN[:-1]}, with {what}.", item.name)
        if self.behaviour == "rename":
            name = free_name(item.name, taken)
            return Step(Action.KEEP_BOTH, f"Kept both: restored as “{name}”.", name)
        if "folder" in existing:
            return Step(Action.CANNOT, "A folder has this name; a file cannot replace it.")
        return Step(
            Action.OVERWRITE, "Overwritten: the file there becomes an earlier version.", item.name
        )

    def plan(self, job_items: list[RestoreJobItem]) -> list[Step]:
        quota = self.graph.get(self.drive, **{"$select": "quota"}).get("quota") or {}
        remaining = quota.get("remaining")
        cache: dict[str, dict[str, dict]] = {}
        steps: list[Step] = []
        writing = 0
        for job_item in job_items:
            item = job_item.item
            if not item.content_sha256:
                steps.append(Step(Action.CANNOT, NO_CONTENT))
                continue
            listing = self._listing(item, cache)
            step = self._step(item, listing.get(item.name.casefold()), set(listing))
            if step.action in (Action.RESTORE, Action.KEEP_BOTH, Action.OVERWRITE):
                writing += item.size
                if remaining is not None and writing > int(remaining):
                    free = int(remaining) / 1024 / 1024
                    step = Step(
                        Action.CANNOT,
                        f"Over the drive's quota: {free:.1f} MB free, and the files before "
                        "this one fill it.",
                    )
                else:
                    # A later item of the same name meets this one, as the run would.
                    listing.setdefault(step.name.casefold(), {"name": step.name, "file": {}})
            steps.append(step)
        return steps

    # --- reading back -------------------------------------------------------------------

    def verify(self, job_items: list[RestoreJobItem]) -> dict[int, Verdict]:
        by_key = {str(ji.pk): ji for ji in job_items}
        urls = {
            key: f"/{self.drive}/items/{ji.result_graph_id}?$select=id,size,file"
            for key, ji in by_key.items()
        }
        verdicts: dict[int, Verdict] = {}
        for key, (status, body) in self.graph.get_many(urls).items():
            job_item = by_key[key]
            item = job_item.item
            if status == 404:
                verdicts[job_item.pk] = Verdict.differs(["not found in the drive"])
                continue
            if status >= 400:
                code = ((body or {}).get("error") or {}).get("code", "")
                verdicts[job_item.pk] = Verdict.unreadable(
                    f"Could not be read back: Microsoft 365 answered {status} {code}."
                )
                continue
            body = body or {}
            differences = []
            if int(body.get("size", -1)) != item.size:
                differences.append(f"size {body.get('size')} bytes, not {item.size}")
            found = ((body.get("file") or {}).get("hashes") or {}).get("quickXorHash")
            if found != self._expected_hash(item):
                differences.append("quickXorHash")
            verdicts[job_item.pk] = (
                Verdict.differs(differences) if differences else Verdict.matches()
            )
        return verdicts

    def _upload_session(self, address: str, item: Item, size: int) -> dict:
        session = self.graph.post(
            f"{address}/createUploadSession",
            {"item": {CONFLICT: self.behaviour, "name": item.name, "fileSize": size}},
        )
        url = session["uploadUrl"]
        start = 0
        answer = None
        with blob_store().open(item.content_sha256) as stream:
            for chunk in iter_chunks(stream, FRAGMENT):
                answer = self.graph.put_fragment(url, chunk, start, size)
                start += len(chunk)
        if answer is None or answer.status_code not in (200, 201):
            raise GraphError(500, "uploadIncomplete", "The upload session did not finish.")
        return answer.json()
