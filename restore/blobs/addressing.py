"""Keyed content addresses: deduplication within a tenant, nothing learnt across tenants.

A blob's address is HMAC-SHA256(tenant key, content), the tenant key derived from
BLOB_ADDRESS_KEY and the tenant id with HKDF. The same bytes backed up twice in one tenant
get one address (stored once); the same bytes in two tenants get unrelated addresses, so
neither the store's listing nor the catalog shows that two tenants hold the same file.
BLOB_ADDRESS_KEY never rotates: the catalog holds the addresses it produced.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from restore.blobs.sealing import key_id


class Addressing:
    def __init__(self, master: bytes) -> None:
        self._master = master

    @property
    def key_id(self) -> bytes:
        return key_id(self._master)

    @lru_cache(maxsize=256)  # noqa: B019 - one instance per process, a few tenants
    def tenant_key(self, tenant: str) -> bytes:
        info = b"lifeboat blob address|" + str(tenant).lower().encode("ascii")
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(self._master)

    def hasher(self, tenant: str) -> hmac.HMAC:
        return hmac.new(self.tenant_key(tenant), digestmod=hashlib.sha256)


def valid_address(address: str) -> bool:
    return len(address) == 64 and all(c in "0123456789abcdef" for c in address)
