"""One backup run of one protected object, for any workload.

`run(object)` starts restore point N (the object's next seq), asks the workload's reader
(named in its WORKLOADS entry) for the changes since the last usable point, turns them
into folder and item states, and finishes the point with its counts.

States: a change closes the current state (`last_seq = N - 1`) and opens a new one
(`first_seq = N`); a removal only closes. Earlier points therefore keep showing what they
held.

No one sees half a run, and no transaction is open while Graph is read:

1. `_start`: a short transaction under the object's row lock creates point N as RUNNING.
   A RUNNING point of another run makes a second run stop at once (`AlreadyRunning`,
   writing nothing); a RUNNING point older than a task may live is a dead worker's,
   marked FAILED.
2. `_read`: the reader reads Graph with no transaction open — with the app's
   application permissions, or as a person where the data needs one
   (restore/backup/delegation.py picks whom) — and its changes are staged in a temporary
   file; content goes to the blob store.
3. `_apply`: one transaction replays the staged changes into folder and item states and
   marks the point SUCCEEDED. Browsing shows only SUCCEEDED/PARTIAL points, so nothing
   of the run is visible before this commits. Any failure marks the point FAILED with a
   safe error and leaves the catalog as it was (blobs of a failed run stay in the store:
   content-addressed, the next run reuses them).

Waiting for sign-in: when no person's token can be had (`delegation.NeedsSignIn`, or the
token was revoked mid-read: nothing was applied yet), point N becomes WAITING: its log
says who may sign in and the code each one enters (one pending sign-in per person,
shared by every run waiting for them). When one of them signs in
(`identity_signed_in`, restore/backup/tasks.py) the object is backed up again and
`_start` takes the same point N back.
"""

from __future__ import annotations

import logging
import pickle
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import OperationalError, transaction
from django.db.models import Max
from django.db.models.fields.json import KT
from django.utils import timezone
from django.utils.module_loading import import_string

from authflow import flows, signins, tokens
from authflow.models import TokenCache, User
from authflow.signals import tenant_access_refused
from portal import logging as structured_logging
from portal import permissions
from portal.graph import GraphError
from restore.backup import delegation
from restore.backup.base import (
    BackupError,
    Change,
    Context,
    CurrentItem,
    FolderRemoved,
    FolderSeen,
    ItemRemoved,
    ItemSeen,
    Reader,
)
from restore.backup.signals import backup_queued
from restore.blobs import BlobStoreUnavailable, blob_store
from restore.models import ContentStatus, Folder, Item, ProtectedObject, RestorePoint
from restore.workloads import info

logger = logging.getLogger(__name__)

BATCH = 500


class AlreadyRunning(Exception):
    """Another run of this object holds its lock."""


@dataclass(frozen=True)
class Outcome:
    point: RestorePoint
    seconds: float


def reader_for(workload: str) -> Reader:
    """The workload's reader, named in its WORKLOADS entry (restore/workloads.py)."""
    reader: Reader = import_string(info(workload).reader)
    return reader


def run(obj: ProtectedObject, *, full: bool = False) -> Outcome:
    """Back up `obj` once. Returns the point (SUCCEEDED or FAILED); raises AlreadyRunning.

    `full`: read everything, ignoring the delta links, and fetch again content the blob
    store no longer holds."""
    started_at, started = timezone.now(), time.monotonic()
    point = _start(obj, started_at)
    structured_logging.bind(backup_object=obj.pk, backup_run=point.pk)  # on this run's lines
    try:
        with _read(point, full) as (catalog, context, staged), transaction.atomic():
            _apply(point, catalog, context, staged)
    except delegation.NeedsSignIn as needed:
        wait_for_sign_in(point, needed)
    except tokens.SignInRequired as error:  # the token was revoked (or expired) mid-read
        logger.info("Backup of object %s lost its token: %s", obj.pk, error.reason)
        _log(point, f"The token of {error.user.upn} stopped working: {error.reason}")
        try:
            delegation.choose(obj)
        except delegation.NeedsSignIn as needed:
            wait_for_sign_in(point, needed)
        except (BackupError, GraphError, flows.FlowError, tokens.TokensUnavailable):
            _fail(point, f"{error.user.upn} must sign in again: {error.reason}"[:500])
        else:  # someone else can stand in: the next run reads as them
            _wait(point, "Another person's token can be used; the backup starts again.", [])
            queue_again(point.object_id)
    except BackupError as error:
        _fail(point, str(error))
    except GraphError as error:
        _fail(point, graph_error_message(obj, error))
        if error.status in (401, 403):
            tenant_access_refused.send(sender=ProtectedObject, tenant_id=str(obj.tenant_id))
    except BlobStoreUnavailable as error:
        _fail(point, f"The backup store could not be used: {error}.")
    except (flows.FlowError, tokens.TokensUnavailable) as error:
        _fail(point, f"No application token from Microsoft Entra: {error}"[:500])
        if isinstance(error, flows.FlowError):
            tenant_access_refused.send(sender=ProtectedObject, tenant_id=str(obj.tenant_id))
    except Exception:
        logger.exception("Backup of object %s failed", obj.pk)
        _fail(point, "Unexpected error; see the worker log.")
    if full and point.status == RestorePoint.Status.SUCCEEDED:
        _clear_recovered_content(obj)
    structured_logging.unbind("backup_object", "backup_run")
    return Outcome(point, time.monotonic() - started)


def graph_error_message(obj: ProtectedObject, error: GraphError) -> str:
    rule = permissions.requirement(obj.workload, obj.entity, "backup")
    if error.status in (401, 403) and rule.is_delegated:
        return (
            f"Microsoft Graph refused the signed-in person's access ({error.status} "
            f"{error.code}): {error.message}"
        )[:500]
    if error.status in (401, 403):
        return (
            f"Microsoft Graph refused access ({error.status} {error.code}). The portal app "
            f"needs the application permission {' and '.join(rule.scopes)} with admin consent."
        )[:500]
    return f"Microsoft Graph answered {error.status} {error.code}: {error.message}"[:500]


def _lock(obj: ProtectedObject) -> ProtectedObject:
    try:
        return ProtectedObject.objects.select_for_update(nowait=True).get(pk=obj.pk)
    except OperationalError as error:
        raise AlreadyRunning(f"A backup of {obj} is already running.") from error


def _next_seq(obj: ProtectedObject) -> int:
    return (RestorePoint.objects.filter(object=obj).aggregate(m=Max("seq"))["m"] or 0) + 1


def _start(obj: ProtectedObject, started_at: Any) -> RestorePoint:
    """Claim the run: point N, RUNNING, in a short transaction under the object's lock.

    A RUNNING point of another run makes this one stop at once; one older than a task
    may live belongs to a worker that died, and is marked failed.
    """
    with transaction.atomic():
        obj = _lock(obj)
        running = RestorePoint.objects.filter(object=obj, status=RestorePoint.Status.RUNNING)
        dead = started_at - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
        running.filter(started_at__lt=dead).update(
            status=RestorePoint.Status.FAILED,
            finished_at=started_at,
            error="Interrupted: the worker running this backup stopped.",
        )
        if running.exists():
            raise AlreadyRunning(f"A backup of {obj} is already running.")
        waiting = RestorePoint.objects.filter(object=obj, status=RestorePoint.Status.WAITING)
        resumed = waiting.order_by("-seq").first()
        if resumed is not None:  # a sign-in arrived (or the wait is old): the same point N
            resumed.status, resumed.started_at = RestorePoint.Status.RUNNING, started_at
            resumed.error, resumed.waiting_for = "", []
            resumed.save(update_fields=["status", "started_at", "error", "waiting_for"])
            return resumed
        return RestorePoint.objects.create(object=obj, seq=_next_seq(obj), started_at=started_at)


@contextmanager
def _read(
    point: RestorePoint, full: bool = False
) -> Iterator[tuple[Catalog, Context, Iterator[Change]]]:
    """Read every change from Graph, with no transaction open, into a staging file; the
    changes are then replayed from it (constant memory, however big the first backup)."""
    obj = point.object
    previous = (
        RestorePoint.objects.filter(
            object=obj, status__in=[RestorePoint.Status.SUCCEEDED, RestorePoint.Status.PARTIAL]
        )
        .order_by("-seq")
        .first()
    )
    choice = delegation.choose(obj)
    point.token_kind = choice.kind
    point.token_user = choice.user
    point.token_upn = choice.user.upn if choice.user else ""
    _log(point, f"Reading with {choice.label}.")
    catalog = Catalog(obj, point.seq)
    context = Context(
        object=obj,
        graph=choice.graph,
        store=blob_store(),
        previous_delta_state=previous.delta_state if previous and not full else {},
        current_folders={g: f.parent_graph_id for g, f in catalog.folders.items()},
        current_items=catalog.items,  # not changed until the read is over
        full=full,
    )
    with tempfile.TemporaryFile(prefix="lifeboat-backup-") as staging:
        for change in reader_for(obj.workload)(context):
            pickle.dump(change, staging, protocol=pickle.HIGHEST_PROTOCOL)
        staging.seek(0)

        def replay() -> Iterator[Change]:
            while True:
                try:
                    # Our own file, written just above by this process.
                    yield pickle.load(staging)  # noqa: S301
                except EOFError:
                    return

        yield catalog, context, replay()


def _apply(
    point: RestorePoint, catalog: Catalog, context: Context, staged: Iterator[Change]
) -> None:
    """The run's states and its SUCCEEDED point, together (the caller's transaction)."""
    for change in staged:
        catalog.apply(change)
    catalog.finish()
    point.status = RestorePoint.Status.SUCCEEDED
    point.finished_at = timezone.now()
    point.items_added, point.items_changed, point.items_removed = catalog.counts()
    point.bytes_stored = context.bytes_stored
    point.delta_state = context.delta_state
    point.waiting_for = []
    point.save()
    ProtectedObject.objects.filter(pk=point.object_id).update(last_backup_at=point.finished_at)


def _log(point: RestorePoint, line: str) -> None:
    """A line of the run's log (kept with the point; safe to show: no tokens)."""
    stamp = timezone.localtime().strftime("%Y-%m-%d %H:%M:%S")
    point.log = f"{point.log}{stamp} {line}\n"[-20000:]


def _wait(point: RestorePoint, reason: str, people: list[str]) -> None:
    point.status = RestorePoint.Status.WAITING
    point.finished_at = None
    point.error = reason[:500]
    point.waiting_for = people
    point.items_added = point.items_changed = point.items_removed = point.bytes_stored = 0
    point.token_kind, point.token_user, point.token_upn = "", None, ""
    point.save()


def wait_for_sign_in(point: RestorePoint, needed: delegation.NeedsSignIn) -> None:
    """No token to read with: point N waits, its log saying who may sign in and how.
    Starts (or reuses) one pending sign-in per person asked: HTTP, no transaction open."""
    obj = point.object
    label = info(obj.workload).label.lower()
    owner = f"the group {obj.name}" if obj.entity == "group" else obj.name
    reason = f"Waiting for sign-in: backing up the {label} of {owner} needs a person's token."
    logger.info("Backup of object %s waits for a sign-in", obj.pk)
    _log(point, f"{reason} {needed.message}")
    for person in needed.ask:
        sign_in = signins.pending_sign_in_for(person)
        if sign_in is None:
            _log(point, f"A sign-in code for {person.upn} could not be started.")
            continue
        until = timezone.localtime(sign_in.expires_at)
        _log(
            point,
            f"{person.upn}: open {sign_in.verification_uri} and enter the code "
            f"{sign_in.user_code} (it works until {until:%H:%M}). The backup goes on by itself "
            "once that is done; signing in to Lifeboat in the browser works too.",
        )
    _wait(point, f"{reason} {needed.message}", [p.identity for p in needed.may])
    # Someone may have signed in meanwhile: don't wait for nothing.
    if holders(point.waiting_for).exists():
        queue_again(point.object_id)


def holders(identities: list[str]) -> Any:
    """Users among `identities` whose tokens may still refresh."""
    return User.objects.filter(
        username__in=identities, token_cache__status=TokenCache.Status.VALID
    ).exclude(token_cache__ciphertext=b"")


def queue_again(object_id: int) -> None:
    transaction.on_commit(lambda: backup_queued.send(sender=RestorePoint, object_id=object_id))


def waiting_for(user: User) -> list[int]:
    """Objects whose backup waits for this person's sign-in."""
    # Filtered here, not with JSON containment: the demo's SQLite has none.
    waiting = RestorePoint.objects.filter(status=RestorePoint.Status.WAITING)
    return [
        object_id
        for object_id, people in waiting.values_list("object_id", "waiting_for")
        if user.identity in (people or [])
    ]


def resume_waiting() -> list[int]:
    """Objects waiting for a sign-in that one of their people has completed meanwhile
    (a missed signal, a worker restart): what the periodic sweep queues again."""
    waiting = RestorePoint.objects.filter(status=RestorePoint.Status.WAITING)
    signed_in = set(
        User.objects.filter(token_cache__status=TokenCache.Status.VALID)
        .exclude(token_cache__ciphertext=b"")
        .values_list("username", flat=True)
    )
    return [
        object_id
        for object_id, people in waiting.values_list("object_id", "waiting_for")
        if signed_in.intersection(people or [])
    ]


def _fail(point: RestorePoint, error: str) -> None:
    logger.warning("Backup of object %s failed: %s", point.object_id, error)
    point.status = RestorePoint.Status.FAILED
    point.finished_at = timezone.now()
    point.error = error[:500]
    point.items_added = point.items_changed = point.items_removed = point.bytes_stored = 0
    point.delta_state = {}
    point.waiting_for = []
    point.save()


def _clear_recovered_content(obj: ProtectedObject) -> None:
    """Content a full run fetched again is no longer missing (or lost). After the run's
    transaction: it asks the blob store (over HTTP for S3) about each address."""
    store = blob_store()
    problems = Item.objects.filter(
        object=obj, content_status__in=[ContentStatus.MISSING, ContentStatus.LOST]
    )
    try:
        for address in set(problems.values_list("content_sha256", flat=True)):
            if store.exists(address):
                problems.filter(content_sha256=address).update(content_status="")
    except BlobStoreUnavailable as error:  # the backup itself succeeded; verify_blobs tells
        logger.warning("Content statuses of object %s not cleared: %s", obj.pk, error)


class Catalog:
    """The object's current folder and item states, changed into point `seq`'s.

    Item writes are batched: new states go in with bulk_create, closed ones with one
    UPDATE per batch. Folder changes flush the batch first (items point at folder rows).
    """

    def __init__(self, obj: ProtectedObject, seq: int) -> None:
        self.object, self.seq = obj, seq
        self.kind = info(obj.workload).item_kind
        self.folders: dict[str, Folder] = {
            f.graph_id: f for f in Folder.objects.filter(object=obj, last_seq__isnull=True)
        }
        self.items: dict[str, CurrentItem] = {}
        self.item_pks: dict[str, int] = {}
        rows = Item.objects.filter(object=obj, last_seq__isnull=True).values_list(
            "pk",
            "graph_id",
            "folder__graph_id",
            "content_sha256",
            KT("meta__backup_version"),
            KT("meta__match_key"),
            KT("meta__content_version"),
        )
        for pk, graph_id, folder, sha, version, key, content in rows.iterator(chunk_size=5000):
            self.items[graph_id] = CurrentItem(folder, version or "", sha, key or "", content or "")
            self.item_pks[graph_id] = pk
        self.new: dict[str, tuple[Item, bool]] = {}  # graph id -> (state, replaced one)
        self.to_create: list[Item] = []
        self.to_close: list[int] = []
        self.deferred: list[Change] = []
        self.added = self.changed = self.removed = 0
        self.removed_keys: Counter[str] = Counter()
        self.added_keys: Counter[str] = Counter()

    # --- changes ------------------------------------------------------------------------

    def apply(self, change: Change) -> None:
        if isinstance(change, ItemSeen):
            if change.folder_graph_id not in self.folders:
                self.deferred.append(change)
                return
            self._item_seen(change)
        elif isinstance(change, ItemRemoved):
            self._item_removed(change)
        elif isinstance(change, FolderSeen):
            if change.parent_graph_id and change.parent_graph_id not in self.folders:
                self.deferred.append(change)
                return
            self._folder_seen(change)
        elif isinstance(change, FolderRemoved):
            self._folder_removed(change.graph_id)

    def _item_seen(self, change: ItemSeen) -> None:
        current = self.items.get(change.graph_id)
        if (
            current is not None
            and change.version
            and current.version == change.version
            and current.folder_graph_id == change.folder_graph_id
            and change.fields.get("content_sha256", current.content_sha256)
            == current.content_sha256
        ):
            return
        replaced = current is not None
        if change.graph_id in self.new:  # seen twice in this run: the later one wins
            _, replaced = self._drop_new(change.graph_id)
        elif current is not None:
            self.to_close.append(self.item_pks.pop(change.graph_id))
        fields = dict(change.fields)
        meta = {**fields.pop("meta", {}), "backup_version": change.version}
        if change.match_key:
            meta["match_key"] = change.match_key
        if change.content_version:
            meta["content_version"] = change.content_version
        state = Item(
            object=self.object,
            folder=self.folders[change.folder_graph_id],
            graph_id=change.graph_id,
            kind=self.kind,
            first_seq=self.seq,
            meta=meta,
            **fields,
        )
        self.to_create.append(state)
        self.new[change.graph_id] = (state, replaced)
        self.items[change.graph_id] = CurrentItem(
            change.folder_graph_id,
            change.version,
            fields.get("content_sha256", ""),
            change.match_key,
            change.content_version,
        )
        if replaced:
            self.changed += 1
        else:
            self.added += 1
            if change.match_key:
                self.added_keys[change.match_key] += 1
        if len(self.to_create) >= BATCH:
            self.flush()

    def _item_removed(self, change: ItemRemoved) -> None:
        current = self.items.get(change.graph_id)
        if current is None:
            return
        if change.folder_graph_id is not None and current.folder_graph_id != change.folder_graph_id:
            return  # moved out of the reporting folder into one already read
        del self.items[change.graph_id]
        if change.graph_id in self.new:
            _, replaced = self._drop_new(change.graph_id)
            if not replaced:
                self.added -= 1
                return
            self.changed -= 1
        else:
            self.to_close.append(self.item_pks.pop(change.graph_id))
        self.removed += 1
        if current.match_key:
            self.removed_keys[current.match_key] += 1

    def _drop_new(self, graph_id: str) -> tuple[Item, bool]:
        state, replaced = self.new.pop(graph_id)
        self.item_pks.pop(graph_id, None)
        if not state.pk:  # not saved yet (django-stubs types pk as never None)
            self.to_create.remove(state)
        else:
            Item.objects.filter(pk=state.pk).delete()
        return state, replaced

    def _folder_seen(self, change: FolderSeen) -> None:
        parent = self.folders.get(change.parent_graph_id) if change.parent_graph_id else None
        path = f"{parent.path}/{change.name}" if parent and parent.path else change.name
        if change.well_known == "root":
            path = ""
        current = self.folders.get(change.graph_id)
        wanted = (change.parent_graph_id, change.name, path, change.well_known)
        if current is not None:
            if (current.parent_graph_id, current.name, current.path, current.well_known) == wanted:
                return
            self.flush()
            if current.first_seq == self.seq:  # opened in this run: correct it in place
                current.parent_graph_id, current.name, current.path, current.well_known = wanted
                current.save()
            else:
                Folder.objects.filter(pk=current.pk).update(last_seq=self.seq - 1)
                self.folders[change.graph_id] = self._new_folder(change, path)
                self._rehome_items(current, self.folders[change.graph_id])
            if current.path != path:
                for child in [
                    f for f in self.folders.values() if f.parent_graph_id == change.graph_id
                ]:
                    self._folder_seen(
                        FolderSeen(
                            child.graph_id, child.parent_graph_id, child.name, child.well_known
                        )
                    )
            return
        self.folders[change.graph_id] = self._new_folder(change, path)

    def _new_folder(self, change: FolderSeen, path: str) -> Folder:
        return Folder.objects.create(
            object=self.object,
            graph_id=change.graph_id,
            parent_graph_id=change.parent_graph_id,
            name=change.name[:400],
            path=path[:2000],
            well_known=change.well_known,
            first_seq=self.seq,
        )

    def _rehome_items(self, old: Folder, new: Folder) -> None:
        """Items of a folder whose state was replaced (renamed, moved) follow it unchanged."""
        Item.objects.filter(folder=old, first_seq=self.seq).update(folder=new)
        moved = []
        for item in Item.objects.filter(folder=old, last_seq__isnull=True).iterator(
            chunk_size=BATCH
        ):
            self.to_close.append(item.pk)
            item.pk, item.folder, item.first_seq = None, new, self.seq
            moved.append(item)
        self._close_pending()
        Item.objects.bulk_create(moved, batch_size=BATCH)
        for item in moved:
            self.item_pks[item.graph_id] = item.pk

    def _folder_removed(self, graph_id: str) -> None:
        folder = self.folders.pop(graph_id, None)
        if folder is None:
            return
        for child in [f.graph_id for f in self.folders.values() if f.parent_graph_id == graph_id]:
            self._folder_removed(child)
        for item_id in [g for g, i in self.items.items() if i.folder_graph_id == graph_id]:
            self._item_removed(ItemRemoved(item_id))
        self.flush()
        if folder.first_seq == self.seq:
            folder.delete()
        else:
            Folder.objects.filter(pk=folder.pk).update(last_seq=self.seq - 1)

    # --- writing ------------------------------------------------------------------------

    def _close_pending(self) -> None:
        for start in range(0, len(self.to_close), BATCH):
            chunk = self.to_close[start : start + BATCH]
            Item.objects.filter(pk__in=chunk).update(last_seq=self.seq - 1)
        self.to_close = []

    def flush(self) -> None:
        self._close_pending()
        if self.to_create:
            Item.objects.bulk_create(self.to_create, batch_size=BATCH)
            for state in self.to_create:
                self.item_pks[state.graph_id] = state.pk
            self.to_create = []

    def finish(self) -> None:
        """Apply what waited for its folder, then write the last batch."""
        for _ in range(len(self.deferred) + 1):
            waiting, self.deferred = self.deferred, []
            if not waiting:
                break
            for change in waiting:
                self.apply(change)
            if len(self.deferred) == len(waiting):
                raise BackupError(
                    f"Graph reported {len(waiting)} item(s) in folders it never listed."
                )
        self.flush()

    def counts(self) -> tuple[int, int, int]:
        """(added, changed, removed); a remove and an add of one match key is a move."""
        moves = sum((self.added_keys & self.removed_keys).values())
        return self.added - moves, self.changed + moves, self.removed - moves
