"""What a caller may reach: one access function per protected object.

App-only tokens reach everything in their own tenant (given the role) and nothing in
another. Delegated tokens reach the signed-in user's own mailbox and drive, the drives
of groups the user belongs to or owns (with a ".All" files scope), and directory objects
as their scopes allow. Outside their tenant, objects simply do not exist.
"""

from __future__ import annotations

import uuid

from django.db.models import Q

from sandbox.graph import errors
from sandbox.graph.auth import Caller
from sandbox.graph.permissions import Permission
from sandbox.models import DirectoryUser, Drive, Group


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def find_user(caller: Caller, reference: str) -> DirectoryUser | None:
    """A user of the caller's tenant by object id or UPN; None when there is none."""
    users = DirectoryUser.objects.select_related("tenant").filter(tenant_id=caller.tenant_id)
    if (oid := _as_uuid(reference)) is not None:
        return users.filter(id=oid).first()
    return users.filter(user_principal_name=reference.lower()).first()


def directory_user(caller: Caller, reference: str) -> DirectoryUser:
    """/me or /users/{id | upn}: the user, or Graph's 400/404."""
    if reference == "me":
        if caller.user is None:
            raise errors.bad_request(
                "/me request is only valid with delegated authentication flow."
            )
        return caller.user
    user = find_user(caller, reference)
    if user is None:
        raise errors.not_found(errors.DIRECTORY, reference)
    return user


def group(caller: Caller, reference: str) -> Group:
    gid = _as_uuid(reference)
    found = Group.objects.filter(id=gid, tenant_id=caller.tenant_id).first() if gid else None
    if found is None:
        raise errors.not_found(errors.DIRECTORY, reference)
    return found


def mailbox(caller: Caller, reference: str) -> DirectoryUser:
    """The mailbox addressed by /me or /users/{id | upn}. Delegated: only one's own."""
    if reference == "me":
        if caller.user is None:
            raise errors.bad_request(
                "/me request is only valid with delegated authentication flow."
            )
        return caller.user
    user = find_user(caller, reference)
    if user is None:
        raise errors.invalid_user(reference)
    if not caller.app_only and caller.user is not None and user.id != caller.user.id:
        # Shared and delegated mailboxes (Mail.Read.Shared) are not emulated.
        raise errors.access_denied(errors.MAIL)
    return user


def drive(caller: Caller, kind: str, reference: str, permission: Permission) -> Drive:
    """The drive of /me, /users/{id}, /groups/{id} or /drives/{id}, if the caller may use it."""
    drives = Drive.objects.select_related("owner_user", "owner_group").filter(
        tenant_id=caller.tenant_id
    )
    if kind == "me":
        if caller.user is None:
            raise errors.bad_request(
                "/me request is only valid with delegated authentication flow."
            )
        found = drives.filter(owner_user=caller.user).first()
    elif kind == "users":
        user = find_user(caller, reference)
        found = drives.filter(owner_user=user).first() if user else None
    elif kind == "groups":
        gid = _as_uuid(reference)
        found = drives.filter(owner_group_id=gid).first() if gid else None
    else:
        found = drives.filter(id=reference).first()
    if found is None:
        raise errors.not_found(errors.DRIVE)
    if caller.app_only or caller.user is None:
        return found
    if found.owner_user_id == caller.user.id:
        return found
    if found.owner_group_id and caller.may_reach_beyond_self(permission):
        in_group = Group.objects.filter(
            Q(members=caller.user) | Q(owners=caller.user), id=found.owner_group_id
        ).exists()
        if in_group:
            return found
    raise errors.access_denied(errors.DRIVE)
