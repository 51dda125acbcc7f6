"""QuickXorHash, OneDrive for Business's file hash (`file.hashes.quickXorHash`), streamed.

A restore compares it with what OneDrive reports, so a retried upload can tell that the
file it finds is the one it already put there. Microsoft's algorithm: a 160-bit state;
the byte at stream position p is XORed in rotated left by 11·p bits (mod 160); then the
length, as 8 little-endian bytes, is XORed into the last 8 state bytes; base64. Bytes at
positions congruent mod 160 share a rotation, so 160-byte lanes are XORed as big integers
first (in C), and rotated once at the end.

The sandbox computes the hash OneDrive reports with the same function. The only PyPI
package (quickxorhash 1.0.5, 2022) is a C extension with no wheels that builds with
distutils, which Python 3.12 removed, so it is written out here and checked against the
reference implementation's vectors (tests/sandbox/test_graph_drive.py).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

WIDTH = 160
SHIFT = 11
_MASK = (1 << WIDTH) - 1


def _rotate_left(value: int, bits: int) -> int:
    bits %= WIDTH
    return ((value << bits) | (value >> (WIDTH - bits))) & _MASK


def quick_xor_hash(data: bytes) -> str:
    return quick_xor_hash_of_chunks([data])


def quick_xor_hash_of_chunks(chunks: Iterable[bytes]) -> str:
    lanes = 0
    length = 0
    carry = b""
    for chunk in chunks:
        length += len(chunk)
        data = carry + chunk if carry else chunk
        whole = len(data) - len(data) % WIDTH
        view = memoryview(data)
        for start in range(0, whole, WIDTH):
            lanes ^= int.from_bytes(view[start : start + WIDTH], "little")
        carry = bytes(view[whole:])
    if carry:
        lanes ^= int.from_bytes(carry, "little")
    state = 0
    for position in range(WIDTH):
        byte = (lanes >> (8 * position)) & 0xFF
        if byte:
            state ^= _rotate_left(byte, SHIFT * position)
    digest = bytearray(state.to_bytes(WIDTH // 8, "little"))
    for i, length_byte in enumerate(length.to_bytes(8, "little")):
        digest[WIDTH // 8 - 8 + i] ^= length_byte
    return base64.b64encode(bytes(digest)).decode("ascii")
