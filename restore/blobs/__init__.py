"""Backed-up content (MIME, file bytes): keyed addresses, encrypted at rest, any backend.

- `store.py`: `BlobStore`, the interface the rest of Lifeboat uses (put, open, exists,
  size, verify).
- `sealing.py`: chunked AES-256-GCM, streamed in constant memory, keys that rotate.
- `addressing.py`: per-tenant HMAC addresses (deduplication that reveals nothing across
  tenants).
- `files.py`, `s3.py`: where the sealed bytes live, chosen by BLOB_STORE_URL.
- `health.py`: what /healthz, the admin console and the metrics say about the store.

The catalog keeps only the address (`Item.content_sha256`, named from before addresses
were keyed).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.signals import setting_changed

from restore.blobs.addressing import Addressing
from restore.blobs.errors import BlobCorrupt, BlobKeyMissing, BlobNotFound, BlobStoreUnavailable
from restore.blobs.sealing import CHUNK, KeyRing, decode_key
from restore.blobs.store import Backend, BlobStore


def iter_chunks(stream: BinaryIO, chunk_size: int = CHUNK) -> Iterator[bytes]:
    while chunk := stream.read(chunk_size):
        yield chunk


def backend_for(url: str) -> Backend:
    parts = urlsplit(url)
    if parts.scheme == "file":
        from restore.blobs.files import FileBackend

        return FileBackend(Path(unquote(parts.path)))
    from restore.blobs import s3

    return s3.S3Backend(
        s3.client(
            endpoint_url=settings.BLOB_S3_ENDPOINT_URL or None,
            region=settings.BLOB_S3_REGION or None,
            access_key_id=settings.BLOB_S3_ACCESS_KEY_ID or None,
            secret_access_key=settings.BLOB_S3_SECRET_ACCESS_KEY or None,
            addressing_style=settings.BLOB_S3_ADDRESSING_STYLE,
        ),
        bucket=parts.netloc,
        prefix=unquote(parts.path),
    )


@cache
def blob_store() -> BlobStore:
    """The configured store (BLOB_STORE_URL, BLOB_ENCRYPTION_KEYS, BLOB_ADDRESS_KEY)."""
    return BlobStore(
        backend_for(settings.BLOB_STORE_URL),
        KeyRing.from_settings(settings.BLOB_ENCRYPTION_KEYS),
        Addressing(decode_key(settings.BLOB_ADDRESS_KEY)),
    )


def _reset(*, setting: str, **kwargs: object) -> None:
    if setting.startswith("BLOB_"):
        blob_store.cache_clear()


setting_changed.connect(_reset)

__all__ = [
    "CHUNK",
    "BlobCorrupt",
    "BlobKeyMissing",
    "BlobNotFound",
    "BlobStore",
    "BlobStoreUnavailable",
    "blob_store",
    "iter_chunks",
]
