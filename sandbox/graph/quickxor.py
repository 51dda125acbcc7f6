"""QuickXorHash, the hash OneDrive for Business puts in file.hashes.quickXorHash.

Microsoft's algorithm (published as C# in the OneDrive API docs): a 160-bit state; the
byte at stream position p is XORed in rotated left by 11·p bits (mod 160); finally the
stream length, as 8 little-endian bytes, is XORed into the last 8 of the 20 state bytes,
and the state is base64-encoded.

The only PyPI package (quickxorhash 1.0.5, 2022) is a C extension with no wheels that
builds with distutils, which Python 3.12 removed, so the hash is written out here. Bytes
whose positions are congruent mod 160 land on the same rotation, so they are XORed
together first, 160 at a time, as one big integer: Python does the work in C, not per byte.
"""

from __future__ import annotations

import base64

WIDTH = 160
SHIFT = 11
_MASK = (1 << WIDTH) - 1


def _rotate_left(value: int, bits: int) -> int:
    bits %= WIDTH
    return ((value << bits) | (value >> (WIDTH - bits))) & _MASK


def quick_xor_hash(data: bytes) -> str:
    lanes = 0
    view = memoryview(data)
    for start in range(0, len(view), WIDTH):
        lanes ^= int.from_bytes(view[start : start + WIDTH], "little")
    state = 0
    for position in range(WIDTH):
        byte = (lanes >> (8 * position)) & 0xFF
        if byte:
            state ^= _rotate_left(byte, SHIFT * position)
    digest = bytearray(state.to_bytes(WIDTH // 8, "little"))
    for i, length_byte in enumerate(len(data).to_bytes(8, "little")):
        digest[WIDTH // 8 - 8 + i] ^= length_byte
    return base64.b64encode(bytes(digest)).decode("ascii")
