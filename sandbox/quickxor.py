"""QuickXorHash, the hash OneDrive for Business reports as `file.hashes.quickXorHash`.

The sandbox's own implementation: the product has another (restore/quickxor.py) and must
not be checked with its own code, so nothing here comes from it. Written from Microsoft's
description ("Code snippets: QuickXorHash algorithm", OneDrive developer docs) and its C#
sample, whose structure this follows:

- the state is 160 bits; the byte at stream position p is XORed into it rotated left by
  11·p bits (mod 160), with p counted across every `update` (the C# `_shiftSoFar`);
- bytes whose positions are 160 apart share a rotation, so each `update` first XORs them
  together (here 64-bit word by word: 160 bytes are 20 words), then rotates each of the
  (at most) 160 folded bytes into the state once;
- the digest is the state's 20 bytes, least significant first, with the total length as
  8 little-endian bytes XORed into the last 8; OneDrive shows it in base64.

Microsoft publishes no test vectors; tests/sandbox/test_quickxor.py checks this and the
product's implementation against rclone's (backend/onedrive/quickxorhash).
"""

from __future__ import annotations

import base64
import struct
from functools import reduce
from operator import xor

WIDTH_BITS = 160
SHIFT = 11
DIGEST_SIZE = WIDTH_BITS // 8  # 20 bytes
FOLD = WIDTH_BITS  # input bytes whose positions differ by 160 share a rotation
_BLOCK = FOLD * 4096  # input bytes unpacked at a time (640 KiB)
_MASK = (1 << WIDTH_BITS) - 1


def _rotate_left(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (WIDTH_BITS - bits))) & _MASK if bits else value


def _folded(view: memoryview) -> bytearray:
    """160 bytes: byte i is the XOR of every input byte at a position ≡ i (mod 160)."""
    whole = len(view) - len(view) % FOLD
    words = [0] * (FOLD // 8)
    for start in range(0, whole, _BLOCK):
        end = min(start + _BLOCK, whole)
        block = struct.unpack_from(f"<{(end - start) // 8}Q", view, start)
        for k in range(len(words)):
            words[k] ^= reduce(xor, block[k :: len(words)], 0)
    folded = bytearray(b"".join(word.to_bytes(8, "little") for word in words))
    for offset, byte in enumerate(view[whole:]):
        folded[offset] ^= byte
    return folded


class QuickXorHash:
    """Streaming, like hashlib's objects: `update()` as often as needed, then `digest()`."""

    digest_size = DIGEST_SIZE

    def __init__(self, data: bytes = b"") -> None:
        self._state = 0
        self._shift = 0  # rotation of the next byte, in bits (the C# `_shiftSoFar`)
        self._length = 0
        if data:
            self.update(data)

    def update(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        for position, byte in enumerate(_folded(view)):
            if byte:
                rotation = (self._shift + SHIFT * position) % WIDTH_BITS
                self._state ^= _rotate_left(byte, rotation)
        self._shift = (self._shift + SHIFT * (len(view) % WIDTH_BITS)) % WIDTH_BITS
        self._length += len(view)

    def digest(self) -> bytes:
        result = bytearray(self._state.to_bytes(DIGEST_SIZE, "little"))
        for i, byte in enumerate(self._length.to_bytes(8, "little")):
            result[DIGEST_SIZE - 8 + i] ^= byte
        return bytes(result)

    def base64(self) -> str:
        """The digest as OneDrive's `quickXorHash` shows it."""
        return base64.b64encode(self.digest()).decode("ascii")


def quick_xor_hash(data: bytes) -> str:
    """OneDrive's `quickXorHash` of `data`: base64 of the 20-byte digest."""
    return QuickXorHash(data).base64()
