"""Job downloads (target=download): streamed at request time straight from the blob store.

Why at request time rather than a worker writing a .zip into the blob store: the bytes
already sit in the content-addressed store, so streaming them needs no temporary copy
(which for a mailbox would double the disk used and need cleaning up), starts at once,
and uses constant memory: each blob is read 1 MiB at a time and every compressed chunk
is handed to the web server as soon as zipfile writes it. Python's zipfile writes to a
stream it can't seek in by putting sizes in data descriptors after each entry (ZIP64 when
needed), so the archive is never held whole; only its central directory, about a hundred
bytes per entry, grows with the number of items.

One message is its .eml (the MIME as backed up); one file is the file; more are a .zip
whose folders mirror the backup. The job is prepared when it is created
(lifecycle._prepare_download: finished, its items in or left out, an expiry); fetching it
changes no state, so it can be fetched again until it expires.
(One item downloaded from its page is restore/catalog/downloads.py.)
"""

from __future__ import annotations

import logging
import mimetypes
import zipfile
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, BinaryIO

from django.db.models import F, QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from authflow.access import until_access_ends
from portal import audit
from restore import filenames
from restore.blobs import BlobCorrupt, BlobNotFound, blob_store, iter_chunks
from restore.catalog.downloads import export_of, item_name
from restore.jobs import lifecycle
from restore.models import ContentStatus, Item, RestoreJob, RestoreJobItem, RestoreJobLog

if TYPE_CHECKING:
    from django.http import HttpRequest

    from restore.catalog.exports import Export

logger = logging.getLogger(__name__)

S = RestoreJob.Status
MARK_EVERY = 200
# Blobs opened ahead of the one being zipped, each in its own thread: an S3 GET's latency
# (or a disk read) overlaps with compressing the entry before it. Memory stays flat: an
# opened blob holds at most its first and final sealed chunks (sealing.open_sealed).
READ_AHEAD = 4
# Deflate level for entries that are compressed (see _compression): level 1 shrinks mail
# and text about 3x at several times level 6's speed.
COMPRESS_LEVEL = 1


def file_name(item: Item) -> str:
    """A safe file name for the item: the file's name, or the subject + .eml (or the
    workload's export suffix, .ics or .vcf)."""
    return item_name(item)


def _content_type(item: Item) -> str:
    if item.kind == Item.Kind.MESSAGE:
        return "message/rfc822"
    if export := export_of(item):
        return export.content_type
    return (
        str((item.meta or {}).get("mimeType") or "")
        or mimetypes.guess_type(item.name)[0]
        or "application/octet-stream"
    )


class _Sink:
    """A write-only, unseekable file for zipfile: collects what it writes until taken."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.position = 0

    def write(self, data: bytes, /) -> int:
        self.parts.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def close(self) -> None:  # zipfile never closes a file it was given
        pass

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


def _job_items(job: RestoreJob) -> QuerySet[RestoreJobItem]:
    """The items in the download: those its preparation found content for."""
    return (
        RestoreJobItem.objects.filter(job=job, status=RestoreJobItem.Status.DONE)
        .select_related("item", "item__folder", "item__object")
        .order_by("item__folder__path", "item__dated_at", "id")
    )


class _Progress:
    """What a fetch finds that the preparation could not know: content the store no
    longer gives. Such an item is left out of this and later fetches, and said so."""

    def __init__(self, job: RestoreJob) -> None:
        self.job = job

    def item_done(self, job_item: RestoreJobItem) -> None:
        """Written into the response (it was counted as done when prepared)."""

    def item_failed(self, job_item: RestoreJobItem, message: str) -> None:
        changed = RestoreJobItem.objects.filter(
            pk=job_item.pk, status=RestoreJobItem.Status.DONE
        ).update(status=RestoreJobItem.Status.FAILED, error=message, finished_at=timezone.now())
        if changed:
            RestoreJob.objects.filter(pk=self.job.pk).update(
                items_done=F("items_done") - 1,
                items_failed=F("items_failed") + 1,
                bytes_done=F("bytes_done") - job_item.item.size,
            )
        lifecycle.log(
            self.job, f"Left out: “{job_item.item.name}”. {message}", RestoreJobLog.Level.ERROR
        )


def _guarded(chunks: Iterator[bytes], progress: _Progress) -> Iterator[bytes]:
    finished = False
    try:
        yield from chunks
        finished = True
    finally:
        if not finished:
            lifecycle.log(
                progress.job,
                "A download was interrupted; open the download link again to fetch it whole.",
                RestoreJobLog.Level.WARNING,
            )


def _single(job_item: RestoreJobItem, progress: _Progress) -> Iterator[bytes]:
    with blob_store().open(job_item.item.content_sha256) as stream:
        yield from iter_chunks(stream)
    progress.item_done(job_item)


def _unique(name: str, used: set[str]) -> str:
    candidate, number = name, 1
    stem, dot, extension = name.rpartition(".")
    if not dot:
        stem, extension = name, ""
    while candidate.casefold() in used:
        number += 1
        candidate = f"{stem} ({number}){dot}{extension}"
    used.add(candidate.casefold())
    return candidate


def _opened_ahead(
    job_items: Iterable[RestoreJobItem],
) -> Iterator[tuple[RestoreJobItem, BinaryIO | BlobNotFound | BlobCorrupt]]:
    """Each job item with its content opened (or why it cannot be), in order, opening up to
    READ_AHEAD items ahead in threads. Any other error (the store unreachable) is raised
    when its item's turn comes; streams opened ahead of an early stop are closed."""
    store = blob_store()
    pending: deque[tuple[RestoreJobItem, Future[BinaryIO]]] = deque()

    def turn() -> tuple[RestoreJobItem, BinaryIO | BlobNotFound | BlobCorrupt]:
        job_item, opening = pending.popleft()
        try:
            return job_item, opening.result()
        except (BlobNotFound, BlobCorrupt) as error:
            return job_item, error

    with ThreadPoolExecutor(READ_AHEAD, thread_name_prefix="download-read-ahead") as pool:
        try:
            for job_item in job_items:
                pending.append((job_item, pool.submit(store.open, job_item.item.content_sha256)))
                if len(pending) > READ_AHEAD:
                    yield turn()
            while pending:
                yield turn()
        finally:
            for _, opening in pending:
                if not opening.cancel() and opening.exception() is None:
                    opening.result().close()


def _not_lost(job_items: Iterable[RestoreJobItem], progress: _Progress) -> Iterator[RestoreJobItem]:
    for job_item in job_items:
        if job_item.item.content_status == ContentStatus.LOST:
            progress.item_failed(job_item, "Content lost (found by verify_blobs).")
        else:
            yield job_item


def _zip(job: RestoreJob, progress: _Progress) -> Iterator[bytes]:
    sink = _Sink()
    used: set[str] = set()
    job_items = _not_lost(_job_items(job).iterator(chunk_size=500), progress)
    with zipfile.ZipFile(sink, "w") as archive:
        for job_item, opened in _opened_ahead(job_items):
            if isinstance(opened, BlobNotFound):
                progress.item_failed(job_item, "Its content is missing from the backup store.")
                continue
            if isinstance(opened, BlobCorrupt):
                progress.item_failed(job_item, "Its content failed its integrity check.")
                continue
            item = job_item.item
            folder = filenames.path(item.folder.path)
            name = _unique(f"{folder}/{file_name(item)}" if folder else file_name(item), used)
            info = entry_info(name, _zip_time(item))
            with opened as stream, archive.open(info, "w", force_zip64=True) as entry:
                for chunk in iter_chunks(stream):
                    entry.write(chunk)
                    if data := sink.take():
                        yield data
            progress.item_done(job_item)
            if data := sink.take():
                yield data
    yield sink.take()


def _exported(job: RestoreJob, export: Export, progress: _Progress) -> Iterator[bytes]:
    """The job's items in one file of the workload's export format, EXPORT_BATCH at a time
    (a calendar's VEVENTs or a vCard file's cards, each batch a whole file's worth: the
    parts concatenate for vCards; an .ics is rendered whole, since it is one VCALENDAR)."""
    usable: list[RestoreJobItem] = []
    for job_item in _job_items(job).iterator(chunk_size=500):
        if job_item.item.content_status == ContentStatus.LOST or not job_item.item.content_sha256:
            progress.item_failed(job_item, "Content lost (found by verify_blobs).")
            continue
        usable.append(job_item)
    try:
        yield export.render([ji.item for ji in usable])
    except (BlobNotFound, BlobCorrupt):
        for job_item in usable:
            progress.item_failed(job_item, "Its content could not be read from the backup store.")
        return
    for job_item in usable:
        progress.item_done(job_item)


# Formats that are compressed already: deflating them again costs most of a download's CPU
# (bench/download.py: 6.5 MB/s deflating random bytes vs 61 MB/s storing) for no gain.
_COMPRESSED = frozenset(
    {
        ".7z",
        ".avi",
        ".bz2",
        ".docx",
        ".gif",
        ".gz",
        ".heic",
        ".jpeg",
        ".jpg",
        ".m4a",
        ".mkv",
        ".mov",
        ".mp3",
        ".mp4",
        ".pdf",
        ".png",
        ".pptx",
        ".rar",
        ".webm",
        ".webp",
        ".xlsx",
        ".xz",
        ".zip",
        ".zst",
    }
)


def _compression(name: str) -> int:
    extension = name[name.rfind(".") :].casefold() if "." in name else ""
    return zipfile.ZIP_STORED if extension in _COMPRESSED else zipfile.ZIP_DEFLATED


def entry_info(name: str, date_time: tuple[int, int, int, int, int, int]) -> zipfile.ZipInfo:
    """A zip entry's header with the download's compression policy. The level is set on the
    entry itself: `ZipFile.open(info, "w")` ignores the archive's `compresslevel` for a
    ZipInfo it is given, and deflates at zlib's default (6) instead."""
    info = zipfile.ZipInfo(name, date_time=date_time)
    info.compress_type = _compression(name)
    if info.compress_type == zipfile.ZIP_DEFLATED:
        info.compress_level = COMPRESS_LEVEL
    return info


def _zip_time(item: Item) -> tuple[int, int, int, int, int, int]:
    when = timezone.localtime(item.dated_at)
    if when.year < 1980:
        return (1980, 1, 1, 0, 0, 0)
    return (when.year, when.month, when.day, when.hour, when.minute, when.second)


def gone(job: RestoreJob) -> str:
    """Why a download job can't be fetched (expired, or nothing could go in it)."""
    if job.download_expires_at is not None and job.download_expired:
        when = timezone.localtime(job.download_expires_at)
        return (
            f"This download expired at {when:%Y-%m-%d %H:%M %Z}; start it again from the "
            "backup (nothing was lost: the backup still holds the items)."
        )
    return "None of its items could go in it: see its log."


def response(job: RestoreJob, request: HttpRequest | None = None) -> StreamingHttpResponse:
    """The download of a job (its items already checked against the person's scope).

    Raises BlobStoreUnavailable, before anything is recorded, when the store cannot be
    read (a store that fails later, mid-stream, leaves the job queued to be opened again)."""
    blob_store().manifest()  # one small read: is the store there at all?
    audit.record(
        "restore.downloaded",
        request=request,
        on_behalf_of=job.object.address or job.object.name,
        target=str(job.id),
        details={"items": job.items_total, "bytes": job.bytes_total},
    )
    progress = _Progress(job)
    first = list(_job_items(job)[:2])
    export = export_of(first[0].item) if first else None
    if export is not None:  # events: one calendar (.ics); contacts: one vCard file (.vcf)
        answer = StreamingHttpResponse(
            until_access_ends(_guarded(_exported(job, export, progress), progress), job.user),
            content_type=export.content_type,
        )
        when = timezone.localtime(job.created_at)
        filename = (
            file_name(first[0].item)
            if len(first) == 1
            else f"Restored items {when:%Y-%m-%d %H.%M}{export.suffix}"
        )
    elif len(first) == 1 and first[0].item.content_sha256:
        item = first[0].item
        body = until_access_ends(_guarded(_single(first[0], progress), progress), job.user)
        answer = StreamingHttpResponse(body, content_type=_content_type(item))
        answer["Content-Length"] = str(blob_store().size(item.content_sha256))
        filename = file_name(item)
    else:
        answer = StreamingHttpResponse(
            until_access_ends(_guarded(_zip(job, progress), progress), job.user),
            content_type="application/zip",
        )
        when = timezone.localtime(job.created_at)
        filename = f"Restored items {when:%Y-%m-%d %H.%M}.zip"
    answer["Content-Disposition"] = filenames.attachment_header(filename)
    answer["Cache-Control"] = "private, no-store"
    return answer
