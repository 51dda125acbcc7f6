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
from sandbox.models import Calendar, DirectoryUser, Drive, Group, Site, SiteGrant

SITES_SELECTED = "Sites.Selected"
# The roles a Sites.Selected grant needs for reading and for writing (Graph's site
# permission roles: read < write < manage < fullcontrol).
READ_ROLES = frozenset({"read", "write", "manage", "fullcontrol"})
WRITE_ROLES = frozenset({"write", "manage", "fullcontrol"})


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


def group_calendar(caller: Caller, reference: str) -> Calendar:
    """The calendar of /groups/{id}/calendar and /groups/{id}/events. Graph has no
    application permission for it (the route's permission already refused app tokens);
    a delegated caller reaches it only as a member or owner of the group, else Graph's
    "Access is denied" (docs/sandbox.md, "Group calendars")."""
    found = group(caller, reference)
    if caller.app_only or caller.user is None:
        raise errors.access_denied(errors.MAIL)
    inside = Group.objects.filter(
        Q(members=caller.user) | Q(owners=caller.user), id=found.id
    ).exists()
    if not inside:
        raise errors.access_denied(errors.MAIL)
    calendar = Calendar.objects.filter(group=found).first()
    if calendar is None:
        calendar = Calendar.objects.create(
            id=f"group-calendar-{found.id}", group=found, name="Calendar", is_default=True
        )
    return calendar


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
    """The drive of /me, /users/{id}, /groups/{id}, /sites/{id} or /drives/{id}, if the
    caller may use it. A site's library: its members (and a team site's group) may."""
    drives = Drive.objects.select_related("owner_user", "owner_group", "site").filter(
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
    elif kind == "sites":
        found = drives.filter(site_id=reference).order_by("created_at", "id").first()
    else:
        found = drives.filter(id=reference).first()
    if found is None:
        raise errors.not_found(errors.DRIVE)
    if caller.app_only or caller.user is None:
        if found.site is not None:
            check_site_for_app(caller, found.site, permission)
            return found
        if not only_selected(caller, permission):
            return found
        raise errors.access_denied(errors.DRIVE)
    if found.owner_user_id == caller.user.id:
        return found
    if found.owner_group_id and caller.may_reach_beyond_self(permission):
        in_group = Group.objects.filter(
            Q(members=caller.user) | Q(owners=caller.user), id=found.owner_group_id
        ).exists()
        if in_group:
            return found
    if (
        found.site is not None
        and caller.may_reach_beyond_self(permission)
        and user_reaches_site(caller.user, found.site, write=writes(permission))
    ):
        return found
    raise errors.access_denied(errors.DRIVE)


def only_selected(caller: Caller, permission: Permission) -> bool:
    """An app whose only fitting role is Sites.Selected: it reaches granted sites only."""
    broad = set(permission.application) - {SITES_SELECTED}
    return caller.app_only and not (caller.roles & broad) and SITES_SELECTED in caller.roles


def check_site_for_app(caller: Caller, site: Site, permission: Permission) -> None:
    """An app-only caller with Sites.Selected alone needs a grant on the site."""
    if not only_selected(caller, permission):
        return
    needed = WRITE_ROLES if writes(permission) else READ_ROLES
    for grant in SiteGrant.objects.filter(site=site, app_id=caller.app_id):
        if needed & set(grant.roles):
            return
    raise errors.access_denied(errors.DRIVE)


def writes(permission: Permission) -> bool:
    """Whether the operation writes (its permission has no read-only form)."""
    return not {"Files.Read.All", "Sites.Read.All"} & set(permission.application)


def user_reaches_site(user: DirectoryUser, site: Site, *, write: bool = False) -> bool:
    """What SharePoint lets a person open: a site whose members or owners they are (or
    visitors, to read); a team site also through its group. A channel site only through
    the channel's own membership (members of the team outside a private channel are not
    in it)."""
    if site.owners.filter(id=user.id).exists() or site.members.filter(id=user.id).exists():
        return True
    if not write and site.visitors.filter(id=user.id).exists():
        return True
    if site.kind == Site.Kind.TEAM and site.group_id is not None:
        return Group.objects.filter(Q(members=user) | Q(owners=user), id=site.group_id).exists()
    return False


def site(caller: Caller, reference: str, permission: Permission) -> Site:
    """/sites/{id} (or a group's root site): the site, if the caller may open it."""
    found = Site.objects.filter(tenant_id=caller.tenant_id, id=reference).first()
    if found is None:
        raise errors.not_found(errors.DRIVE)
    if caller.app_only or caller.user is None:
        check_site_for_app(caller, found, permission)
        return found
    if user_reaches_site(caller.user, found):
        return found
    raise errors.access_denied(errors.DRIVE)
