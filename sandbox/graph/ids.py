"""Opaque ids shaped like Exchange's and OneDrive's, random at run time, derived when seeded."""

from __future__ import annotations

import base64
import hashlib
import secrets


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _material(seed: str | None, size: int) -> bytes:
    if seed is None:
        return secrets.token_bytes(size)
    return hashlib.shake_256(seed.encode()).digest(size)


def message_id(seed: str | None = None) -> str:
    # Exchange ids are base64 of an entry id: they begin "AAMk" and often end with "=".
    return "AAMkAD" + _b64(b"\x00" + _material(seed, 46))


def folder_id(seed: str | None = None) -> str:
    return "AAMkAD" + _b64(b"\x01" + _material(seed, 34))


def attachment_id(seed: str | None = None) -> str:
    return "AAMkAD" + _b64(b"\x02" + _material(seed, 52))


def drive_id(seed: str | None = None) -> str:
    # OneDrive for Business drive ids start with "b!".
    return "b!" + _b64(_material(seed, 48)).rstrip("=")


def item_id(seed: str | None = None) -> str:
    # Business item ids: "01" followed by 32 base32 characters.
    return "01" + base64.b32encode(_material(seed, 20)).decode("ascii")


def change_key(seed: str | None = None) -> str:
    return "CQAAABYAAA" + _b64(_material(seed, 12))
