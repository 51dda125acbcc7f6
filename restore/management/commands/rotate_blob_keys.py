"""`manage.py rotate_blob_keys`: seal every stored blob again under the first key.

To rotate: put a new key first in BLOB_ENCRYPTION_KEYS (keep the old ones after it),
restart web and workers, run this command while Lifeboat keeps running (old keys open
what is not re-sealed yet; new content is sealed with the new key), then remove the old
keys. Resumable: a blob already under the first key is skipped (its header says so), so
an interrupted run just starts again. The addresses, and so the catalog, do not change.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from restore.blobs import BlobCorrupt, BlobNotFound, BlobStoreUnavailable, blob_store


class Command(BaseCommand):
    help = "Re-seal stored content under the first key of BLOB_ENCRYPTION_KEYS (resumable)."

    def handle(self, *args: Any, **options: Any) -> None:
        store = blob_store()
        resealed = kept = 0
        damaged: list[str] = []
        try:
            for address in store.sealed_addresses():
                try:
                    if store.reseal(address):
                        resealed += 1
                    else:
                        kept += 1
                except BlobNotFound:
                    continue  # gone meanwhile
                except BlobCorrupt as error:
                    damaged.append(f"{address[:16]}… ({error})")
                if (resealed + kept) % 1000 == 0:
                    self.stdout.write(f"… {resealed} re-sealed, {kept} already under the key")
            if damaged:
                for line in damaged:
                    self.stdout.write(f"not re-sealed: {line}")
                raise CommandError(
                    f"{len(damaged)} blob(s) could not be opened; keep the old keys until "
                    "verify_blobs --repair has dealt with them."
                )
            # Done: from now on the store needs only the first key.
            store.write_manifest({store.ring.primary_id})
        except BlobStoreUnavailable as error:
            raise CommandError(f"The blob store could not be used ({error}); run again.") from None
        self.stdout.write(
            f"Re-sealed {resealed} blob(s); {kept} were already under the first key. "
            "The older keys may now be removed from BLOB_ENCRYPTION_KEYS."
        )
