"""Downloading one backed-up item from its page (or the API's /items/{id}/content):
streamed from its blob, audited. Downloads of a restore job are restore/jobs/downloads.py.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import BinaryIO

from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest

from authflow.access import until_access_ends
from portal import audit
from restore import filenames
from restore.blobs import BlobCorrupt, BlobNotFound, BlobStoreUnavailable, blob_store, iter_chunks
from restore.catalog.exports import EXPORTS, Export
from restore.models import ContentStatus, Item
from restore.workloads import info

logger = logging.getLogger(__name__)


def item_name(item: Item, as_format: str = "") -> str:
    """The file name one item downloads as: the subject + .eml, or the file's name."""
    if item.kind == Item.Kind.MESSAGE:
        return filenames.file_name(item.name[:150], suffix=".eml", fallback="message")
    if export := export_of(item, as_format):
        return filenames.file_name(item.name[:150], suffix=export.suffix, fallback=item.kind)
    return filenames.file_name(item.name, fallback="file")


def export_of(item: Item, as_format: str = "") -> Export | None:
    """How the item's workload exports its items (.ics, .vcf), or None: the blob as is.
    `as_format`: the workload's second export ("json" for To Do) instead, if it has it."""
    workload = info(item.object.workload)
    key = as_format if as_format and as_format == workload.second_export else workload.export
    return EXPORTS[key] if key else None


class ContentUnavailable(Exception):
    """An item's content cannot be served; `status` and `str()` say why (safe to show)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def item_response(item: Item, request: HttpRequest, as_format: str = "") -> FileResponse:
    """One item (already reached through the person's scope) as a file, streamed from its
    blob and audited: a message as message/rfc822 (.eml), a file as itself. The web's
    download link and the API's /items/{id}/content both answer with this."""
    if not request.user.is_authenticated:  # both callers require a signed-in person
        raise PermissionDenied("Sign in to download.")
    if item.content_status == ContentStatus.LOST:
        raise ContentUnavailable(410, "Content lost: this item's content is no longer stored.")
    try:
        stream = blob_store().open(item.content_sha256)
        size = blob_store().size(item.content_sha256)
    except BlobNotFound as error:
        raise Http404("This item's content was not stored.") from error
    except BlobCorrupt as error:
        logger.error("Item %s: its content fails authentication: %s", item.pk, error)
        raise ContentUnavailable(
            500, "This item's content failed its integrity check and is not served."
        ) from None
    except BlobStoreUnavailable as error:
        raise ContentUnavailable(503, f"The backup store cannot be reached: {error}.") from None
    name = item_name(item, as_format)
    export = export_of(item, as_format)
    if export is not None:  # rendered from the stored JSON (and photos, attachments)
        stream.close()
        rendered = export.render([item])
        stream, size = io.BytesIO(rendered), len(rendered)
    audit.record(
        "restore.download",
        request=request,
        on_behalf_of=request.user.identity,
        target=f"{item.object}: {item.name}"[:300],
        details={"kind": "download", "item": item.pk, "object": item.object_id, "file": name},
    )
    is_message = item.kind == Item.Kind.MESSAGE
    content_type = "message/rfc822" if is_message else "application/octet-stream"
    if export is not None:
        content_type = export.content_type
    body = until_access_ends(_closing(stream), request.user)
    # An iterator, not the file, so that a Revoke stops it: FileResponse then sets no
    # length or disposition of its own.
    answer = FileResponse(body, content_type=content_type)
    answer["Content-Length"] = str(size)
    answer["Content-Disposition"] = filenames.attachment_header(name)
    answer["Cache-Control"] = "private, no-store"
    return answer


def _closing(stream: BinaryIO) -> Iterator[bytes]:
    with stream:
        yield from iter_chunks(stream)
