"""What can go wrong with stored content, as exceptions callers tell apart."""

from __future__ import annotations


class BlobNotFound(LookupError):
    """No blob under this address (never stored, or lost from the store)."""


class BlobCorrupt(Exception):
    """The blob is there but fails authentication: truncated, tampered with or swapped.

    Its bytes are never returned as content.
    """


class BlobKeyMissing(BlobCorrupt):
    """The blob was encrypted with a key that BLOB_ENCRYPTION_KEYS no longer holds."""


class BlobStoreUnavailable(Exception):
    """The store cannot be reached or written (network, permissions, read-only). Retry later.

    `str(error)` is safe to show: it names the store, never a credential.
    """
