"""`manage.py encrypt_blobs`: seal the plaintext blobs written before encryption at rest.

Blobs of older versions sit in the store as plaintext under their SHA-256. For each one
the catalog references, per tenant: seal it under its keyed address, point the tenant's
items at the new address, and delete the plaintext once no item refers to it any more.
Resumable, and safe while Lifeboat runs: at every step each item points at a blob that
exists (the plaintext is deleted last), and a repeated step changes nothing.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from restore.blobs import BlobCorrupt, BlobStoreUnavailable, blob_store, iter_chunks
from restore.blobs.store import legacy_name
from restore.models import Item


class Command(BaseCommand):
    help = "Encrypt, in place, the plaintext blobs of earlier versions (resumable)."

    def handle(self, *args: Any, **options: Any) -> None:
        store = blob_store()
        sealed = removed = 0
        damaged = []
        try:
            store.ensure_manifest()
            legacy = [
                name.rsplit("/", 1)[-1]
                for name in store.backend.names("")
                if not name.startswith(("v1/", ".incoming/")) and name.count("/") == 2
            ]
            for sha256 in legacy:
                tenants = set(
                    Item.objects.filter(content_sha256=sha256).values_list(
                        "object__tenant_id", flat=True
                    )
                )
                for tenant in tenants:
                    try:
                        with store.open(sha256) as plain:
                            address, _, _ = store.put(iter_chunks(plain), tenant=str(tenant))
                    except BlobCorrupt:
                        damaged.append(sha256)
                        break
                    with transaction.atomic():
                        Item.objects.filter(content_sha256=sha256, object__tenant_id=tenant).update(
                            content_sha256=address
                        )
                    sealed += 1
                if (
                    sha256 not in damaged
                    and not Item.objects.filter(content_sha256=sha256).exists()
                ):
                    store.backend.delete(legacy_name(sha256))
                    removed += 1
        except BlobStoreUnavailable as error:
            raise CommandError(f"The blob store could not be used ({error}); run again.") from None
        self.stdout.write(
            f"Sealed {sealed} blob(s) under keyed addresses; removed {removed} plaintext blob(s)."
        )
        if damaged:
            raise CommandError(
                f"{len(damaged)} plaintext blob(s) do not match their SHA-256 and were left as "
                "they are; run verify_blobs --repair."
            )
