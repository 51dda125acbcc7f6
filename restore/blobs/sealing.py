"""Authenticated encryption of blobs, streamed in constant memory (chunked AES-256-GCM).

A sealed blob is a 28-byte header followed by chunks:

    header = b"LBv1" | key id (8 bytes) | salt (16 random bytes)
    chunk i = AES-256-GCM(subkey, nonce(i, final), plaintext[i * CHUNK : (i + 1) * CHUNK], aad)

- `subkey` = HKDF-SHA256(master key, salt): a fresh key per blob, so GCM nonces never
  repeat under one key however many blobs there are.
- `nonce(i, final)` = the chunk index (11 bytes) and a final flag (1 byte), as in the
  STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015): reordered, dropped or
  duplicated chunks fail authentication, and so does a blob cut at a chunk boundary,
  because its new last chunk was not sealed as the final one.
- `aad` = the header for every chunk, and for the final one also the blob's address: a
  blob copied over another address fails, and readers check the final chunk before they
  return any byte (`open_sealed`), so a swapped or truncated blob is never served.

Every chunk but the last holds exactly CHUNK plaintext bytes; the last holds 0..CHUNK.
The plaintext size follows from the sealed size (`plaintext_size`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from restore.blobs.errors import BlobCorrupt, BlobKeyMissing

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

CHUNK = 1024 * 1024
TAG = 16
SEALED_CHUNK = CHUNK + TAG
MAGIC = b"LBv1"
HEADER = len(MAGIC) + 8 + 16


def decode_key(value: str) -> bytes:
    """A key as configured: 32 bytes, url-safe base64 (what `Fernet.generate_key()` prints)."""
    try:
        raw = base64.urlsafe_b64decode(value.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise ValueError("not url-safe base64") from None
    if len(raw) != 32:
        raise ValueError("not 32 bytes")
    return raw


def key_id(key: bytes) -> bytes:
    """8 bytes that name a key without revealing it (stored in each blob's header)."""
    return hmac.new(key, b"lifeboat blob key id", hashlib.sha256).digest()[:8]


@dataclass(frozen=True)
class KeyRing:
    """The configured keys: the first seals, every one opens."""

    keys: tuple[bytes, ...]

    @classmethod
    def from_settings(cls, values: Iterable[str]) -> KeyRing:
        return cls(tuple(decode_key(value) for value in values))

    @property
    def primary_id(self) -> bytes:
        return key_id(self.keys[0])

    @property
    def ids(self) -> set[bytes]:
        return {key_id(key) for key in self.keys}

    def key_for(self, wanted: bytes) -> bytes | None:
        for key in self.keys:
            if hmac.compare_digest(key_id(key), wanted):
                return key
        return None


def _subkey(key: bytes, salt: bytes) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"lifeboat blob v1")
    return AESGCM(derived.derive(key))


def _nonce(index: int, final: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


def _aad(header: bytes, final: bool, address: str) -> bytes:
    return header + address.encode("ascii") if final else header


class Sealer:
    """Seals a stream: feed plaintext with `update`, end with `finish(address)`.

    Holds at most one chunk of plaintext: the last chunk is only known to be the last
    when the input ends, and the address only then (it is a MAC of the whole content).
    """

    def __init__(self, ring: KeyRing) -> None:
        salt = os.urandom(16)
        self.header = MAGIC + ring.primary_id + salt
        self._aead = _subkey(ring.keys[0], salt)
        self._pending = bytearray()
        self._index = 0

    def start(self) -> bytes:
        return self.header

    def update(self, data: bytes) -> Iterator[bytes]:
        self._pending += data
        while len(self._pending) > CHUNK:
            piece = bytes(self._pending[:CHUNK])
            del self._pending[:CHUNK]
            yield self._aead.encrypt(_nonce(self._index, False), piece, self.header)
            self._index += 1

    def finish(self, address: str) -> bytes:
        nonce = _nonce(self._index, True)
        sealed = self._aead.encrypt(nonce, bytes(self._pending), _aad(self.header, True, address))
        self._pending.clear()
        return sealed


def chunk_count(sealed_size: int) -> int:
    body = sealed_size - HEADER
    if body < TAG:
        raise BlobCorrupt("shorter than a header and one chunk")
    return -(-body // SEALED_CHUNK)


def plaintext_size(sealed_size: int) -> int:
    return sealed_size - HEADER - TAG * chunk_count(sealed_size)


def header_key_id(header: bytes) -> bytes:
    if len(header) != HEADER or not header.startswith(MAGIC):
        raise BlobCorrupt("not a sealed blob")
    return header[len(MAGIC) : len(MAGIC) + 8]


# (start, end) -> a stream of the sealed bytes in [start, end)
RangeOpener = Callable[[int, int], BinaryIO]


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    parts = []
    while size > 0:
        part = stream.read(size)
        if not part:
            raise BlobCorrupt("ends early")
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


def open_sealed(
    whole: BinaryIO, sealed_size: int, open_range: RangeOpener, address: str, ring: KeyRing
) -> BinaryIO:
    """A reader of the plaintext, from `whole` (a stream of the sealed blob from its first
    byte). Raises BlobCorrupt (or BlobKeyMissing) before any byte is returned if the
    header or the final chunk fails; a later chunk that fails raises BlobCorrupt from
    `read`. One read for a one-chunk blob (most mail); a larger one also reads its final
    chunk with `open_range` first, then streams the rest from `whole`."""
    try:
        count = chunk_count(sealed_size)
        header = _read_exactly(whole, HEADER)
        key = ring.key_for(header_key_id(header))
        if key is None:
            raise BlobKeyMissing(f"sealed with key {header_key_id(header).hex()}, not configured")
        final_start = HEADER + (count - 1) * SEALED_CHUNK
        if count == 1:
            final_sealed = _read_exactly(whole, sealed_size - HEADER)
        else:
            with open_range(final_start, sealed_size) as stream:
                final_sealed = _read_exactly(stream, sealed_size - final_start)
    except BaseException:
        whole.close()
        raise
    aead = _subkey(key, header[len(MAGIC) + 8 :])
    try:
        final = aead.decrypt(_nonce(count - 1, True), final_sealed, _aad(header, True, address))
    except InvalidTag:
        whole.close()
        raise BlobCorrupt("the final chunk fails authentication") from None
    body = whole if count > 1 else None
    if body is None:
        whole.close()
    return io.BufferedReader(_Opened(aead, header, body, count, final), buffer_size=CHUNK)


class _Opened(io.RawIOBase):
    def __init__(
        self, aead: AESGCM, header: bytes, body: BinaryIO | None, count: int, final: bytes
    ) -> None:
        self._aead, self._header, self._body = aead, header, body
        self._count, self._final = count, final
        self._index = 0
        self._plain = memoryview(b"")

    def readable(self) -> bool:
        return True

    def _next_chunk(self) -> bool:
        if self._index >= self._count:
            return False
        if self._index == self._count - 1:
            self._plain = memoryview(self._final)
        elif self._body is not None:
            sealed = _read_exactly(self._body, SEALED_CHUNK)
            try:
                plain = self._aead.decrypt(_nonce(self._index, False), sealed, self._header)
            except InvalidTag:
                raise BlobCorrupt(f"chunk {self._index} fails authentication") from None
            self._plain = memoryview(plain)
        else:
            raise BlobCorrupt("no body")
        self._index += 1
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        while not self._plain:
            if not self._next_chunk():
                return 0
        view = memoryview(buffer).cast("B")
        size = min(len(view), len(self._plain))
        view[:size] = self._plain[:size]
        self._plain = self._plain[size:]
        return size

    def close(self) -> None:
        if self._body is not None:
            self._body.close()
        super().close()
