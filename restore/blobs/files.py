"""The blob store on a local (or shared, e.g. NFS) file system: BLOB_STORE_URL=file:///path.

Writes go to a temporary file under `.incoming/`, are fsynced, then renamed to their
final name: a crash never leaves a partial blob under a real name.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from restore.blobs.errors import BlobNotFound, BlobStoreUnavailable


def _unavailable(root: Path, error: OSError) -> BlobStoreUnavailable:
    if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return BlobStoreUnavailable(f"the blob store {root} is read-only ({error.strerror})")
    return BlobStoreUnavailable(f"the blob store {root} cannot be used ({error.strerror})")


class FileWriter:
    def __init__(self, root: Path) -> None:
        self.root = root
        incoming = root / ".incoming"
        try:
            incoming.mkdir(parents=True, exist_ok=True)
            fd, self._tmp = tempfile.mkstemp(dir=incoming)
        except OSError as error:
            raise _unavailable(root, error) from None
        self._file = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        try:
            self._file.write(data)
        except OSError as error:
            self.abort()
            raise _unavailable(self.root, error) from None

    def commit(self, name: str, *, replace: bool = False) -> bool:
        """Put the bytes under `name`; False if a blob was already there (nothing changes,
        unless `replace`)."""
        final = self.root / name
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            if final.exists() and not replace:
                return False
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self._tmp, final)
            self._tmp = ""
            return True
        except OSError as error:
            raise _unavailable(self.root, error) from None
        finally:
            self.abort()

    def abort(self) -> None:
        self._file.close()
        if self._tmp:
            Path(self._tmp).unlink(missing_ok=True)
            self._tmp = ""


class FileBackend:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __str__(self) -> str:
        return f"file://{self.root}"

    def _path(self, name: str) -> Path:
        return self.root / name

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def size(self, name: str) -> int:
        try:
            return self._path(name).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(name) from None
        except OSError as error:
            raise _unavailable(self.root, error) from None

    def open_at(self, name: str, start: int, end: int) -> BinaryIO:
        try:
            stream = self._path(name).open("rb")
        except FileNotFoundError:
            raise BlobNotFound(name) from None
        except OSError as error:
            raise _unavailable(self.root, error) from None
        stream.seek(start)
        return stream

    def open_whole(self, name: str) -> tuple[BinaryIO, int]:
        """The whole blob and its size, in one open."""
        stream = self.open_at(name, 0, 0)
        return stream, os.fstat(stream.fileno()).st_size

    def writer(self) -> FileWriter:
        return FileWriter(self.root)

    def delete(self, name: str) -> None:
        try:
            self._path(name).unlink(missing_ok=True)
        except OSError as error:
            raise _unavailable(self.root, error) from None

    def names(self, prefix: str) -> Iterator[str]:
        base = self.root / prefix
        for path in sorted(base.rglob("*")) if base.is_dir() else []:
            if path.is_file() and ".incoming" not in path.parts:
                yield path.relative_to(self.root).as_posix()

    def probe(self) -> None:
        """Raise BlobStoreUnavailable unless the store takes a write."""
        writer = self.writer()
        writer.write(b"probe")
        writer.abort()
