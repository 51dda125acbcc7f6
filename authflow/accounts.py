"""From a validated identity to the portal's user: one Django user per userId.tenantId."""

from __future__ import annotations

import uuid

from django.db import IntegrityError, transaction

from authflow.identity import Identity
from authflow.models import User


def user_for(identity: Identity) -> User:
    """The user for this identity, created on first sign-in; UPN and name kept current.

    The key never changes (oid.tid); the UPN and display name are refreshed because people
    get renamed, and are only ever shown, never used to decide access.
    """
    try:
        with transaction.atomic():
            user, created = User.objects.get_or_create(
                username=identity.key,
                defaults={
                    "oid": uuid.UUID(identity.oid),
                    "tenant_id": uuid.UUID(identity.tid),
                    "upn": identity.upn,
                    "display_name": identity.name,
                },
            )
    except IntegrityError:  # two sign-ins of a new person at the same moment
        user, created = User.objects.get(username=identity.key), False
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    elif (user.upn, user.display_name) != (identity.upn, identity.name):
        user.upn, user.display_name = identity.upn, identity.name
        user.save(update_fields=["upn", "display_name"])
    return user
