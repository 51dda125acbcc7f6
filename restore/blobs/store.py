"""The blob store the rest of Lifeboat uses: keyed addresses, sealed content, any backend.

`BlobStore.put(chunks, tenant=...)` reads the content once, in chunks: it MACs it (the
address) and seals it (sealing.py) while writing to the backend, so memory stays flat
whatever the size. `open(address)` returns the authenticated plaintext.

Names in the backend:
- `v1/ab/cd/<address>`: sealed blobs.
- `ab/cd/<sha256>`: plaintext blobs written before encryption at rest; still readable
  (verified against their SHA-256 at the end) until `manage.py encrypt_blobs` has
  sealed them all.
- `keys.json`: which keys the store's content needs (see `check_keys`).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from restore.blobs import sealing
from restore.blobs.addressing import Addressing, valid_address
from restore.blobs.errors import BlobCorrupt, BlobNotFound, BlobStoreUnavailable
from restore.blobs.sealing import CHUNK, KeyRing

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

MANIFEST = "keys.json"


class Writer(Protocol):
    def write(self, data: bytes) -> None: ...
    def commit(self, name: str, *, replace: bool = False) -> bool: ...
    def abort(self) -> None: ...


class Backend(Protocol):
    """Where sealed bytes live (files.py, s3.py): names in, bytes out, nothing more."""

    def exists(self, name: str) -> bool: ...
    def size(self, name: str) -> int: ...
    def open_at(self, name: str, start: int, end: int) -> BinaryIO: ...
    def open_whole(self, name: str) -> tuple[BinaryIO, int]: ...
    def writer(self) -> Writer: ...
    def delete(self, name: str) -> None: ...
    def names(self, prefix: str) -> Iterator[str]: ...
    def probe(self) -> None: ...


def sealed_name(address: str) -> str:
    return f"v1/{address[:2]}/{address[2:4]}/{address}"


def legacy_name(sha256: str) -> str:
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


def _checked(address: str) -> str:
    if not valid_address(address):
        raise BlobNotFound(address)
    return address


class BlobStore:
    def __init__(self, backend: Backend, ring: KeyRing, addressing: Addressing) -> None:
        self.backend = backend
        self.ring = ring
        self.addressing = addressing
        self._manifest_has_primary = False

    def __str__(self) -> str:
        return str(self.backend)

    # --- Writing -----------------------------------------------------------------------

    def put(
        self, chunks: Iterable[bytes], *, tenant: str, replace: bool = False
    ) -> tuple[str, int, bool]:
        """Store the content; returns (address, size, whether it was new). `replace`
        overwrites a blob already under the address (repairing a corrupt one)."""
        self._note_primary_key()
        mac = self.addressing.hasher(tenant)
        sealer = sealing.Sealer(self.ring)
        writer = self.backend.writer()
        size = 0
        try:
            writer.write(sealer.start())
            for chunk in chunks:
                mac.update(chunk)
                size += len(chunk)
                for sealed in sealer.update(chunk):
                    writer.write(sealed)
            address = mac.hexdigest()
            writer.write(sealer.finish(address))
        except BaseException:
            writer.abort()
            raise
        return address, size, writer.commit(sealed_name(address), replace=replace)

    def reseal(self, address: str) -> bool:
        """Seal the blob again under the primary key, if it is not already; True if it was
        re-sealed. The address (and so the catalog) stays the same."""
        name = sealed_name(_checked(address))
        with self.backend.open_at(name, 0, sealing.HEADER) as stream:
            header = stream.read(sealing.HEADER)
        if sealing.header_key_id(header) == self.ring.primary_id:
            return False
        self._note_primary_key()
        sealer = sealing.Sealer(self.ring)
        writer = self.backend.writer()
        try:
            writer.write(sealer.start())
            with self.open(address) as plain:
                while chunk := plain.read(CHUNK):
                    for sealed in sealer.update(chunk):
                        writer.write(sealed)
            writer.write(sealer.finish(address))
        except BaseException:
            writer.abort()
            raise
        writer.commit(name, replace=True)
        return True

    def sealed_addresses(self) -> Iterator[str]:
        for name in self.backend.names("v1/"):
            address = name.rsplit("/", 1)[-1]
            if valid_address(address):
                yield address

    def put_bytes(self, data: bytes, *, tenant: str) -> tuple[str, int, bool]:
        return self.put([data], tenant=tenant)

    # --- Reading -----------------------------------------------------------------------

    def open(self, address: str) -> BinaryIO:
        """The plaintext; BlobNotFound, BlobCorrupt (never returns unauthenticated bytes
        of a sealed blob) or BlobStoreUnavailable."""
        name = sealed_name(_checked(address))
        try:
            whole, sealed_size = self.backend.open_whole(name)
        except BlobNotFound:
            return self._open_legacy(address)

        def open_range(start: int, end: int) -> BinaryIO:
            return self.backend.open_at(name, start, end)

        return sealing.open_sealed(whole, sealed_size, open_range, address, self.ring)

    def _open_legacy(self, sha256: str) -> BinaryIO:
        name = legacy_name(sha256)
        size = self.backend.size(name)  # BlobNotFound if neither form is there
        raw = _HashChecked(self.backend.open_at(name, 0, size), sha256)
        return io.BufferedReader(raw, buffer_size=CHUNK)

    def exists(self, address: str) -> bool:
        if not valid_address(address):
            return False
        return self.backend.exists(sealed_name(address)) or self.backend.exists(
            legacy_name(address)
        )

    def size(self, address: str) -> int:
        """The plaintext size."""
        name = sealed_name(_checked(address))
        try:
            return sealing.plaintext_size(self.backend.size(name))
        except BlobNotFound:
            return self.backend.size(legacy_name(address))

    def is_sealed(self, address: str) -> bool:
        return self.backend.exists(sealed_name(_checked(address)))

    # --- Checking ----------------------------------------------------------------------

    def verify(self, address: str, *, tenant: str) -> str:
        """ "ok", "missing" or "corrupt": the content is there, authenticates, and MACs to
        its address under the tenant's key. Raises BlobStoreUnavailable."""
        mac = self.addressing.hasher(tenant)
        try:
            with self.open(address) as stream:
                while chunk := stream.read(CHUNK):
                    mac.update(chunk)
        except BlobNotFound:
            return "missing"
        except BlobCorrupt:
            return "corrupt"
        if not self.is_sealed(address):
            return "ok"  # a plaintext blob not yet sealed: its SHA-256 was checked on read
        return "ok" if hmac.compare_digest(mac.hexdigest(), address) else "corrupt"

    def probe(self) -> None:
        self.backend.probe()

    # --- Keys --------------------------------------------------------------------------

    def manifest(self) -> dict[str, Any] | None:
        try:
            size = self.backend.size(MANIFEST)
            with self.backend.open_at(MANIFEST, 0, size) as stream:
                return json.loads(stream.read())
        except BlobNotFound:
            return None

    def write_manifest(self, encryption_key_ids: set[bytes]) -> None:
        body = {
            "address_key": self.addressing.key_id.hex(),
            "encryption_keys": sorted(key.hex() for key in encryption_key_ids),
        }
        writer = self.backend.writer()
        writer.write(json.dumps(body, indent=1).encode())
        writer.commit(MANIFEST, replace=True)

    def ensure_manifest(self) -> None:
        """Write keys.json now if it lacks the address key or the primary key."""
        self._manifest_has_primary = False
        self._note_primary_key()

    def _note_primary_key(self) -> None:
        """Record in keys.json that blobs may be sealed with the primary key (once per
        process), so a later start without that key stops instead of failing reads."""
        if self._manifest_has_primary:
            return
        manifest = self.manifest() or {"encryption_keys": []}
        in_use = {bytes.fromhex(k) for k in manifest.get("encryption_keys", [])}
        if self.ring.primary_id not in in_use or "address_key" not in manifest:
            self.write_manifest(in_use | {self.ring.primary_id})
        self._manifest_has_primary = True

    def key_problem(self) -> str | None:
        """Why the configured keys cannot read this store, naming the variable; or None."""
        manifest = self.manifest()
        if manifest is None:
            return None
        address_key = manifest.get("address_key")
        if address_key and address_key != self.addressing.key_id.hex():
            return (
                "BLOB_ADDRESS_KEY is not the key this blob store was written with "
                f"(the store's key id is {address_key}); restore the original value."
            )
        configured = {key.hex() for key in self.ring.ids}
        missing = [k for k in manifest.get("encryption_keys", []) if k not in configured]
        if missing:
            return (
                "BLOB_ENCRYPTION_KEYS lacks the key(s) the stored content is sealed with "
                f"(key id {', '.join(missing)}); add the old key back after the new one."
            )
        return None


class _HashChecked(io.RawIOBase):
    """A legacy plaintext blob: reading to the end raises BlobCorrupt if its SHA-256
    differs from its name."""

    def __init__(self, stream: BinaryIO, sha256: str) -> None:
        self._stream = stream
        self._sha256 = sha256
        self._digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        data = self._stream.read(len(view))
        if not data:
            if not hmac.compare_digest(self._digest.hexdigest(), self._sha256):
                raise BlobCorrupt("a plaintext blob whose SHA-256 differs from its name")
            return 0
        self._digest.update(data)
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._stream.close()
        super().close()


__all__ = ["BlobCorrupt", "BlobNotFound", "BlobStore", "BlobStoreUnavailable"]
