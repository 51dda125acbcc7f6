"""`manage.py rotate_token_keys`: re-encrypt every stored token under the first key.

To rotate: put a new key first in TOKEN_ENCRYPTION_KEYS (keep the old one after it),
restart, run this command, then remove the old key.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from authflow import encryption
from authflow.models import SignIn, TokenCache


class Command(BaseCommand):
    help = "Re-encrypt stored delegated tokens and sign-in flows with the first key."

    def handle(self, *args: Any, **options: Any) -> None:
        counts = {}
        for model, field in ((TokenCache, "ciphertext"), (SignIn, "flow_ciphertext")):
            done = 0
            with transaction.atomic():
                for pk, value in (
                    model.objects.select_for_update()
                    .exclude(**{field: b""})
                    .values_list("pk", field)
                ):
                    try:
                        rotated = encryption.rotate(value)
                    except encryption.InvalidToken:
                        raise CommandError(
                            f"{model.__name__} {pk} can't be read with any configured key; "
                            "nothing was changed. Is a key missing from TOKEN_ENCRYPTION_KEYS?"
                        ) from None
                    model.objects.filter(pk=pk).update(**{field: rotated})
                    done += 1
            counts[model.__name__] = done
        self.stdout.write(
            f"Re-encrypted {counts['TokenCache']} token caches "
            f"and {counts['SignIn']} sign-in flows."
        )
