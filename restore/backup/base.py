"""What a workload's reader and the generic runner say to each other.

A reader (restore/backup/mail.py, onedrive.py, …) reads one protected object from Graph
and yields *changes* since the previous restore point: folders and items seen (added or
changed) and removed. It never touches the catalog tables: the runner (runner.py) turns
the changes into folder and item states. Adding a workload = a reader, named in its
`WORKLOADS` entry.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from portal.graph import GraphClient, GraphError
from restore.blobs import BlobStore
from restore.models import ProtectedObject


class BackupError(Exception):
    """A run cannot go on; `str(error)` is safe to show (no tokens, no raw Graph bodies)."""


@dataclass(frozen=True)
class FolderSeen:
    graph_id: str
    parent_graph_id: str  # "" for a top-level folder (or a drive's root)
    name: str
    well_known: str = ""


@dataclass(frozen=True)
class FolderRemoved:
    graph_id: str


@dataclass(frozen=True)
class ItemSeen:
    graph_id: str
    folder_graph_id: str
    # Item field values: name, sender, recipients, sent_at, dated_at, size, is_read,
    # has_attachments, sensitivity, content_sha256, body_text, meta.
    fields: dict[str, Any]
    # Changes when the item changes (changeKey, cTag): an equal version is no change.
    version: str = ""
    # The same thing under another id (internetMessageId): a remove and an add of one
    # match_key in a run count as a move, not as one item deleted and one added.
    match_key: str = ""
    # Changes only when the content does (a file's quickXorHash): readers reuse the blob.
    content_version: str = ""


@dataclass(frozen=True)
class ItemRemoved:
    graph_id: str
    # The folder that reported it (mail delta is per folder); None: wherever it is.
    folder_graph_id: str | None = None


Change = FolderSeen | FolderRemoved | ItemSeen | ItemRemoved


@dataclass(frozen=True)
class CurrentItem:
    """What the catalog holds now for one item (the previous point's state)."""

    folder_graph_id: str
    version: str
    content_sha256: str
    match_key: str
    content_version: str = ""


@dataclass
class Context:
    """What a reader gets: the object, a Graph client, the blob store, the last state."""

    object: ProtectedObject
    graph: GraphClient
    store: BlobStore
    previous_delta_state: dict[str, Any]
    current_folders: dict[str, str]  # graph id -> parent graph id, of open folder states
    current_items: dict[str, CurrentItem]
    delta_state: dict[str, Any] = field(default_factory=dict)  # the reader fills it
    bytes_stored: int = 0
    # A full backup (`backup --full`): delta links ignored, and content the store lost is
    # fetched again even where the item is unchanged.
    full: bool = False

    def content_present(self, address: str) -> bool:
        """May the reader reuse this blob? Always in an incremental run (no store round
        trip per item); in a full run only if the store really holds it."""
        return not self.full or not address or self.store.exists(address)

    def store_content(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Put content in the blob store; returns (sha256, size). Counts new bytes."""
        digest, size, new = self.store.put(chunks, tenant=str(self.object.tenant_id))
        if new:
            self.bytes_stored += size
        return digest, size

    def items_in(self, folder_graph_id: str) -> set[str]:
        return {
            graph_id
            for graph_id, item in self.current_items.items()
            if item.folder_graph_id == folder_graph_id
        }


class Reader(Protocol):
    def __call__(self, context: Context) -> Iterator[Change]: ...


# Graph's answers when a saved delta link can no longer be used (Outlook and directory).
RESYNC_CODES = {"SyncStateInvalid", "SyncStateNotFound", "resyncRequired", "ErrorInvalidSyncState"}


def delta_with_resync(
    rounds: Callable[[str, bool], Generator[Change, None, str]], start: str, link: str | None
) -> Generator[Change, None, str]:
    """A folder's changes since `link` (everything from `start` when None), read by
    `rounds(url, full)`; returns the next link. A link Graph no longer accepts (RESYNC_CODES)
    means the folder is read again from scratch."""
    try:
        return (yield from rounds(link or start, not link))
    except GraphError as error:
        if not link or error.code not in RESYNC_CODES:
            raise
    return (yield from rounds(start, True))


def delta_pages(
    context: Context,
    url: str,
    folder_graph_id: str,
    version_of: Callable[[dict[str, Any]], Any],
    changed: Callable[[list[dict[str, Any]]], Iterable[Change]],
    *,
    full: bool,
    page_size: int = 100,
) -> Generator[Change, None, str]:
    """One round of a folder's Graph delta from `url`: removals as they come, each page's
    new or changed entries (by `version_of`, against the catalog) handed to `changed`
    together (so it can fetch their parts in one `$batch`); in a full round, what the
    catalog holds and Graph no longer listed is removed. Returns the next delta link."""
    headers = {"Prefer": f"odata.maxpagesize={page_size}"}
    seen: set[str] = set()
    while True:
        page = context.graph.request("GET", url, headers=headers).json()
        wanted = []
        for entry in page.get("value", []):
            graph_id = str(entry["id"])
            if "@removed" in entry:
                yield ItemRemoved(graph_id, folder_graph_id)
                continue
            seen.add(graph_id)
            current = context.current_items.get(graph_id)
            if (
                current is not None
                and current.version == version_of(entry)
                and current.folder_graph_id == folder_graph_id
                and context.content_present(current.content_sha256)
            ):
                continue
            wanted.append(entry)
        yield from changed(wanted)
        if next_link := page.get("@odata.nextLink"):
            url = next_link
            continue
        if full:
            for graph_id in context.items_in(folder_graph_id) - seen:
                yield ItemRemoved(graph_id, folder_graph_id)
        return str(page.get("@odata.deltaLink", ""))
