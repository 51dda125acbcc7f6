"""`manage.py copy_blobs --to DIR` / `--from DIR`: the blob store to or from a directory.

The sealed bytes are copied as they are (still encrypted: the copy is useless without
BLOB_ENCRYPTION_KEYS, which are backed up separately), together with keys.json. A blob
already at the destination with the same size is skipped: blobs never change under their
name, so a second copy only adds what is new. scripts/lifeboat-state uses this.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from restore.blobs import BlobNotFound, BlobStoreUnavailable, blob_store
from restore.blobs.files import FileBackend
from restore.blobs.store import MANIFEST, Backend

CHUNK = 8 * 1024 * 1024


def _copy(source: Backend, target: Backend) -> tuple[int, int]:
    copied = skipped = 0
    names = [n for n in source.names("") if not n.startswith(".incoming/")]
    # keys.json last: a store that has it holds all the content copied before it.
    names.sort(key=lambda name: name == MANIFEST)
    for name in names:
        size = source.size(name)
        try:
            if target.size(name) == size and name != MANIFEST:
                skipped += 1
                continue
        except BlobNotFound:
            pass
        writer = target.writer()
        try:
            with source.open_at(name, 0, size) as stream:
                while chunk := stream.read(CHUNK):
                    writer.write(chunk)
        except BaseException:
            writer.abort()
            raise
        writer.commit(name, replace=True)
        copied += 1
    return copied, skipped


class Command(BaseCommand):
    help = "Copy the blob store (sealed, as is) to a directory, or back from one."

    def add_arguments(self, parser: CommandParser) -> None:
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--to", type=Path, help="copy the store into this directory")
        group.add_argument("--from", dest="source", type=Path, help="copy this directory in")

    def handle(self, *args: Any, **options: Any) -> None:
        store = blob_store().backend
        source: Backend
        target: Backend
        if options["to"]:
            source, target = store, FileBackend(options["to"])
        else:
            if not options["source"].is_dir():
                raise CommandError(f"{options['source']} is not a directory.")
            source, target = FileBackend(options["source"]), store
        try:
            copied, skipped = _copy(source, target)
        except (BlobStoreUnavailable, OSError) as error:
            raise CommandError(f"Copying the blob store failed ({error}); run again.") from None
        self.stdout.write(
            f"Copied {copied} object(s) from {source} to {target}; {skipped} were there."
        )
