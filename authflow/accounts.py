"""From a validated identity to the portal's user: one Django user per userId.tenantId."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import IntegrityError, transaction

from authflow.identity import Identity
from authflow.models import Role, User, highest
from authflow.principals import ExpectedUser

APP_ROLES = {"Lifeboat.Admin": Role.ADMIN, "Lifeboat.Helpdesk": Role.HELPDESK}


def directory_role(identity: Identity) -> Role:
    """The portal role Entra gives this person: app roles, or configured groups."""
    roles = [APP_ROLES[r] for r in identity.roles if r in APP_ROLES]
    groups = set(identity.groups)
    if groups & set(settings.ADMIN_GROUP_IDS):
        roles.append(Role.ADMIN)
    if groups & set(settings.HELPDESK_GROUP_IDS):
        roles.append(Role.HELPDESK)
    return highest(Role.END_USER, *roles)


def user_for(identity: Identity) -> User:
    """The user for this identity, created on first sign-in; UPN, name and the role Entra
    gives kept current at each sign-in.

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
                    "directory_role": directory_role(identity),
                },
            )
    except IntegrityError:  # two sign-ins of a new person at the same moment
        user, created = User.objects.get(username=identity.key), False
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
        return user
    current = (identity.upn, identity.name, directory_role(identity))
    if (user.upn, user.display_name, user.directory_role) != current:
        user.upn, user.display_name, user.directory_role = current
        user.save(update_fields=["upn", "display_name", "directory_role"])
    return user


def user_for_expected(expected: ExpectedUser) -> User:
    """The user for someone looked up in Graph but perhaps never signed in yet."""
    user, created = User.objects.get_or_create(
        username=expected.identity,
        defaults={
            "oid": uuid.UUID(expected.oid),
            "tenant_id": uuid.UUID(expected.tenant_id),
            "upn": expected.upn,
            "display_name": expected.display_name,
        },
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user
