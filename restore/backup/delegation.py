"""Whose token a backup reads Graph with: the app's, or a person's.

Most workloads back up with the app's application permissions. Some data only a signed-in
person can read (a group's calendar: Graph has no application permission for it), and
some rules are application ones a person's token can also meet (`Requirement.fallback`:
To Do's Tasks.Read.All, or the person's own Tasks.Read where the tenant did not grant it).
`choose(obj)` decides from portal/permissions.py, and for a delegated read picks, in order:

1. the object's owner, for a user's own data;
2. an owner of the group;
3. the tenant's dedicated backup account (`Tenant.backup_account`) when it is a member or
   owner of the group (the seed's advice: one account in every such group, signed in
   before the backup windows);
4. any member of the group who signed in.

A person counts when the portal holds a token for them that still refreshes. With none,
`NeedsSignIn` names who may sign in; the runner then waits (restore/backup/runner.py) and
starts one pending sign-in per person (authflow.signins.pending_sign_in_for), shared by
every backup and restore waiting for them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from authflow import principals, tokens
from authflow.models import Tenant, TokenCache, User
from portal import permissions
from portal.graph import GraphClient
from restore.backup.base import BackupError
from restore.models import EntityKind, ProtectedObject, RestorePoint
from restore.workloads import info

logger = logging.getLogger(__name__)

# Sign-ins started for one waiting group at most (the backup account, else its owners).
MAX_SIGN_INS = 5


@dataclass(frozen=True)
class Choice:
    kind: str  # RestorePoint.TokenKind
    graph: GraphClient
    user: User | None = None
    as_what: str = ""  # "the owner", "an owner of the group", "the backup account", "a member"

    @property
    def label(self) -> str:
        if self.user is None:
            return "application permissions"
        return f"delegated as {self.user.upn} ({self.as_what})"


@dataclass
class NeedsSignIn(Exception):
    """No usable delegated token: `ask` may sign in (who and how the log says)."""

    message: str  # "Please do it with some owner of the group Finance: bob@…"
    ask: list[principals.ExpectedUser] = field(default_factory=list)  # sign-ins to start
    may: list[principals.ExpectedUser] = field(default_factory=list)  # whose sign-in helps

    def __str__(self) -> str:
        return self.message


def choose(obj: ProtectedObject) -> Choice:
    """The token to back up `obj` with. Raises BackupError (the app lacks a permission and
    no person can stand in) or NeedsSignIn."""
    rule = permissions.requirement(obj.workload, obj.entity, "backup")
    tenant_id = str(obj.tenant_id)
    if not rule.is_delegated:
        missing = _missing_app_permissions(rule, tenant_id)
        if not missing:
            return Choice(RestorePoint.TokenKind.APPLICATION, tokens.graph_as_app(tenant_id))
        if not rule.fallback:
            raise BackupError(
                f"The portal app lacks the application permission {' and '.join(missing)} "
                f"(admin consent in Microsoft Entra) needed to back up "
                f"{info(obj.workload).label} data."
            )
        scopes = list(rule.fallback)
    else:
        scopes = list(rule.scopes)
    candidates, ask, message = _candidates(obj)
    holders = _token_holders(obj, [person for person, _ in candidates])
    for person, as_what in candidates:
        user = holders.get(person.identity)
        if user is None:
            continue
        granted = set(user.token_cache.scopes or [])
        if permissions.missing_permissions(
            permissions.Requirement(rule.type, tuple(scopes)), granted
        ):
            # Their sign-in predates these scopes: asking Entra would be refused (consent)
            # and end the tokens they hold for restores. Skip them; a new sign-in helps.
            logger.info("Backup of %s: %s signed in without %s", obj.pk, user, scopes)
            continue
        try:
            tokens.access_token(user, scopes)
        except tokens.SignInRequired as refused:
            logger.info("Backup of %s: %s cannot stand in: %s", obj.pk, user, refused.reason)
            continue
        return Choice(
            RestorePoint.TokenKind.DELEGATED, tokens.graph_as(user, scopes), user, as_what
        )
    raise NeedsSignIn(message, ask, [person for person, _ in candidates])


def _missing_app_permissions(rule: permissions.Requirement, tenant_id: str) -> list[str]:
    granted = tokens.app_permissions(tenant_id)
    if granted is None:  # not a readable token: Graph's 403 will tell
        return []
    missing = permissions.missing_permissions(rule, granted)
    if missing:  # the cached token may predate the consent: ask for one issued now
        granted = tokens.app_permissions(tenant_id, force=True) or frozenset()
        missing = permissions.missing_permissions(rule, granted)
    return missing


Candidates = list[tuple[principals.ExpectedUser, str]]


def _candidates(obj: ProtectedObject) -> tuple[Candidates, list[principals.ExpectedUser], str]:
    """(who may stand in, in order; whose sign-ins to start; the log's "please" line).
    Asks Graph (application permissions) for a group's owners and members."""
    tenant_id = str(obj.tenant_id)
    if obj.entity != EntityKind.GROUP:
        owner = principals.ExpectedUser(str(obj.owner_id), tenant_id, obj.address, obj.name)
        return [(owner, "the owner")], [owner], f"Please do it with {obj.address or obj.name}."
    group_id = str(obj.owner_id)
    owners = principals.group_owners(group_id, tenant_id=tenant_id)
    members = principals.group_members(group_id, tenant_id=tenant_id)
    found: Candidates = [(o, "an owner of the group") for o in owners]
    account = _backup_account(tenant_id, owners + members)
    if account is not None:
        found.append((account, "the backup account"))
    found += [(m, "a member of the group") for m in members]
    ordered: Candidates = []
    for person, why in found:  # each person once, at their first (highest) place
        if person.identity not in {p.identity for p, _ in ordered}:
            ordered.append((person, why))
    upns = "; ".join(o.upn for o in owners)
    if account is not None:
        label = info(obj.workload).label.lower()
        message = (
            f"Please do it with the backup account {account.upn}"
            + (f" or some owner of the group {obj.name}: {upns}" if upns else "")
            + f" (the {label} of a group is read as a member)."
        )
        ask = [account]
    elif owners:
        message = f"Please do it with some owner of the group {obj.name}: {upns}."
        ask = list(owners[:MAX_SIGN_INS])
    else:
        listed = "; ".join(m.upn for m in members[:MAX_SIGN_INS]) or "none"
        message = f"The group {obj.name} has no owner. Please do it with a member: {listed}."
        ask = list(members[:MAX_SIGN_INS])
    return ordered, ask, message


def _backup_account(
    tenant_id: str, inside: tuple[principals.ExpectedUser, ...]
) -> principals.ExpectedUser | None:
    """The tenant's backup account, if it is a member or owner of the group."""
    upn = (
        Tenant.objects.filter(tenant_id=tenant_id).values_list("backup_account", flat=True).first()
    )
    if not upn:
        return None
    return next((p for p in inside if p.upn.lower() == upn.lower()), None)


def _token_holders(obj: ProtectedObject, people: list[principals.ExpectedUser]) -> dict[str, User]:
    """Those of `people` the portal holds a token for that may still refresh."""
    oids = [p.oid for p in people]
    users = User.objects.filter(
        tenant_id=obj.tenant_id,
        oid__in=oids,
        token_cache__status=TokenCache.Status.VALID,
    ).exclude(token_cache__ciphertext=b"")
    return {user.identity: user for user in users.select_related("token_cache")}


# --- What admins and the helpdesk see ---------------------------------------------------------


def needs_person(obj: ProtectedObject) -> bool:
    """Whether backing up `obj` may need a person's sign-in (a delegated rule, or an
    application rule with a delegated fallback)."""
    try:
        rule = permissions.requirement(obj.workload, obj.entity, "backup")
    except LookupError:
        return False
    return rule.is_delegated or bool(rule.fallback)


def last_points(objects: list[ProtectedObject]) -> dict[int, RestorePoint]:
    """Each object's latest finished or waiting point (one query)."""
    latest = (
        RestorePoint.objects.filter(object=OuterRef("object"))
        .exclude(status=RestorePoint.Status.RUNNING)
        .order_by("-seq")
        .values("pk")[:1]
    )
    points = RestorePoint.objects.filter(object__in=objects, pk=Subquery(latest)).select_related(
        "token_user"
    )
    return {point.object_id: point for point in points}


def read_as(users: list[User]) -> dict[int, list[ProtectedObject]]:
    """Objects whose latest backup was read with each user's delegated token: the
    backups that stop (and wait) when that person's token is revoked."""
    latest = (
        RestorePoint.objects.filter(
            object=OuterRef("object"),
            status__in=[RestorePoint.Status.SUCCEEDED, RestorePoint.Status.PARTIAL],
        )
        .order_by("-seq")
        .values("pk")[:1]
    )
    rows = RestorePoint.objects.filter(
        token_kind=RestorePoint.TokenKind.DELEGATED, token_user__in=users, pk=Subquery(latest)
    ).select_related("object")
    found: dict[int, list[ProtectedObject]] = {}
    for point in rows:
        if point.token_user_id is not None:
            found.setdefault(point.token_user_id, []).append(point.object)
    return found


@dataclass(frozen=True)
class Upcoming:
    """An object whose next backup needs a person, and whether it has one."""

    object: ProtectedObject
    point: RestorePoint | None
    due_at: datetime | None  # None: now (never backed up)
    ready: bool  # the person it was last read as still holds a usable token
    waiting_for: list[str]  # identities it waits for (a waiting point), else []


def upcoming(objects: list[ProtectedObject], *, hours: int = 24) -> list[Upcoming]:
    """Of `objects`, those needing a person whose next backup falls in the next `hours`,
    with whether it can run without a sign-in (by what the portal holds: no Graph call)."""
    horizon = timezone.now() + timedelta(hours=hours)
    interval = timedelta(seconds=settings.BACKUP_INTERVAL)
    people = [o for o in objects if o.enabled and not o.excluded and needs_person(o)]
    points = last_points(people)
    readers = {p.token_user_id for p in points.values() if p.token_user_id is not None}
    valid = set(
        TokenCache.objects.filter(status=TokenCache.Status.VALID, user_id__in=readers)
        .exclude(ciphertext=b"")
        .values_list("user_id", flat=True)
    )
    found = []
    for obj in people:
        point = points.get(obj.pk)
        due = obj.last_backup_at + interval if obj.last_backup_at else None
        if due is not None and due > horizon:
            continue
        waiting = point is not None and point.status == RestorePoint.Status.WAITING
        ready = (
            point is not None
            and not waiting
            and (
                point.token_kind == RestorePoint.TokenKind.APPLICATION
                or point.token_user_id in valid
            )
        )
        waits = list(point.waiting_for) if point is not None and waiting else []
        found.append(Upcoming(obj, point, due, ready, waits))
    return found
