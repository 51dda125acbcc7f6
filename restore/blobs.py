"""Content-addressed blob store: backed-up MIME and file bytes, deduplicated by SHA-256.

The catalog keeps only the hex digest (`Item.content_sha256`). `BlobStore` is the whole
interface the rest of the code uses, so an S3-compatible store can be added as another
class. `FileSystemBlobStore` writes to a temporary file, hashes while writing, then
renames into `ab/cd/abcdef…`: a crash never leaves a partial blob under its final name,
and the same content is stored once.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import BinaryIO, Protocol

from django.conf import settings

CHUNK = 1024 * 1024


class BlobNotFound(LookupError):
    pass


class BlobStore(Protocol):
    def put(self, chunks: Iterable[bytes]) -> tuple[str, int, bool]:
        """Store the bytes; returns (sha256 hex, size, whether it was new)."""
        ...

    def open(self, sha256: str) -> BinaryIO: ...

    def exists(self, sha256: str) -> bool: ...

    def size(self, sha256: str) -> int: ...


def iter_chunks(stream: BinaryIO, chunk_size: int = CHUNK) -> Iterator[bytes]:
    while chunk := stream.read(chunk_size):
        yield chunk


def _valid_digest(sha256: str) -> str:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise BlobNotFound(sha256)
    return sha256


class FileSystemBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, sha256: str) -> Path:
        digest = _valid_digest(sha256)
        return self.root / digest[:2] / digest[2:4] / digest

    def put(self, chunks: Iterable[bytes]) -> tuple[str, int, bool]:
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as tmp:
                for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    tmp.write(chunk)
                tmp.flush()
                os.fsync(tmp.fileno())
            final = self._path(digest.hexdigest())
            if final.exists():
                return digest.hexdigest(), size, False
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_name, final)
            tmp_name = ""
            return digest.hexdigest(), size, True
        finally:
            if tmp_name:
                Path(tmp_name).unlink(missing_ok=True)

    def put_bytes(self, data: bytes) -> tuple[str, int, bool]:
        return self.put([data])

    def open(self, sha256: str) -> BinaryIO:
        try:
            return self._path(sha256).open("rb")
        except FileNotFoundError:
            raise BlobNotFound(sha256) from None

    def exists(self, sha256: str) -> bool:
        try:
            return self._path(sha256).is_file()
        except BlobNotFound:
            return False

    def size(self, sha256: str) -> int:
        try:
            return self._path(sha256).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(sha256) from None


@cache
def blob_store() -> FileSystemBlobStore:
    """The configured store (settings.BLOB_ROOT)."""
    return FileSystemBlobStore(Path(settings.BLOB_ROOT))
