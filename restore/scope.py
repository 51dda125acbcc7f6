"""What a signed-in identity may browse and restore: the one scoped accessor.

Every catalog query of the web pages and the API goes through `Scope`. It is built from a
`RestoreSession`, which resolves once (and again after RESTORE_SESSION_AGE):

- objects the identity owns (its oid, in its tenant);
- objects of the groups it owns or belongs to, asked of Graph with its delegated token;
- objects an admin put in its restore-operator scope (`OperatorScope`), granted to it or
  to one of its groups: a user's objects, or a group's objects and its members';
- SharePoint libraries: a team site's through its group (their `owner_id`), the others
  (communication sites, private and shared channels' sites) when Graph, asked with the
  identity's own token, lets it open the library (`drives/{id}/root`, 20 per `$batch`):
  SharePoint's own permissions decide, as they will when it restores there. An operator
  scope on a team covers its channels' libraries too.

Anything outside the scope is `Http404`, whichever id reaches it: the same answer as an
id that does not exist, so ids cannot be probed.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db.models import Model, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from authflow import tokens
from portal import permissions
from portal.graph import GraphError
from restore.models import (
    Folder,
    Item,
    OperatorScope,
    ProtectedObject,
    RestoreJob,
    RestorePoint,
    RestoreSession,
    Workload,
    valid_at,
)

if TYPE_CHECKING:
    from authflow.models import User

logger = logging.getLogger(__name__)

GROUP_SCOPES = ["GroupMember.Read.All"]


def _group_ids_from_graph(user: User) -> tuple[list[str], list[str]]:
    """Ids of groups the user belongs to or owns, with notes on what could not be read."""
    notes: list[str] = []
    found: set[str] = set()
    try:
        graph = tokens.graph_as(user, GROUP_SCOPES)
        # No OData cast (…/microsoft.graph.group): Graph wants advanced queries for that on
        # memberOf; the type of each entry says which are groups (not roles or units).
        for relation in ("me/transitiveMemberOf", "me/ownedObjects"):
            for entry in graph.iterate(relation, **{"$select": "id"}):
                if entry.get("@odata.type", "#microsoft.graph.group") == "#microsoft.graph.group":
                    found.add(entry["id"])
    except tokens.SignInRequired:
        notes.append("Sign in again to see your groups' backups.")
    except (tokens.TokensUnavailable, GraphError) as error:
        logger.info("Groups of %s unavailable: %s", user.identity, error)
        notes.append("Your groups could not be read from Microsoft 365 just now.")
    return sorted(found), notes


def members_of(tenant_id: str, group_id: str) -> list[str]:
    """User ids of a group's members and owners (application permission)."""
    graph = tokens.graph_as_app(tenant_id)
    ids = {
        entry["id"]
        for entry in graph.iterate(f"groups/{group_id}/transitiveMembers", **{"$select": "id"})
    }
    ids.update(
        entry["id"] for entry in graph.iterate(f"groups/{group_id}/owners", **{"$select": "id"})
    )
    return sorted(ids)


def resolve_object_ids(user: User, group_ids: Iterable[str]) -> tuple[list[int], list[str]]:
    """Ids of the protected objects the identity may restore from."""
    notes: list[str] = []
    tenant = str(user.tenant_id)
    groups = list(group_ids)
    owners: set[str] = {str(user.oid), *groups}
    grants = OperatorScope.objects.filter(tenant_id=tenant).filter(
        Q(grantee_user=user) | Q(grantee_group_id__in=groups)
    )
    teams: set[str] = set()
    for grant in grants:
        owners.add(str(grant.principal_id))
        if grant.principal_kind == OperatorScope.PrincipalKind.GROUP:
            teams.add(str(grant.principal_id))
            try:
                owners.update(members_of(tenant, str(grant.principal_id)))
            except (tokens.TokensUnavailable, GraphError) as error:
                logger.info("Members of %s unavailable: %s", grant.principal_id, error)
                notes.append(f"Members of {grant.principal_name} could not be read just now.")
    ids = set(
        ProtectedObject.objects.filter(
            tenant_id=tenant, owner_id__in=owners, excluded=False
        ).values_list("id", flat=True)
    )
    # An operator scope on a team also covers its private and shared channels' libraries.
    ids.update(
        ProtectedObject.objects.filter(
            tenant_id=tenant,
            workload=Workload.SHAREPOINT,
            details__group_id__in=sorted(teams),
            excluded=False,
        ).values_list("id", flat=True)
    )
    libraries = dict(
        ProtectedObject.objects.filter(
            tenant_id=tenant, workload=Workload.SHAREPOINT, excluded=False
        )
        .exclude(id__in=ids)
        .values_list("id", "graph_ref")
    )
    if libraries:
        readable, site_notes = _libraries_readable(user, libraries)
        ids.update(readable)
        notes += site_notes
    return sorted(ids), notes


def _libraries_readable(user: User, libraries: dict[int, str]) -> tuple[set[int], list[str]]:
    """The site libraries (object id -> drive id) Graph lets the identity open."""
    scopes = list(permissions.requirement(Workload.SHAREPOINT, "site", "restore").scopes)
    try:
        graph = tokens.graph_as(user, scopes)
        answers = graph.get_many(
            {str(pk): f"/drives/{drive}/root?$select=id" for pk, drive in libraries.items()}
        )
    except tokens.SignInRequired:
        return set(), ["Sign in again to see your SharePoint sites' backups."]
    except (tokens.TokensUnavailable, GraphError) as error:
        logger.info("Sites of %s unavailable: %s", user.identity, error)
        return set(), ["Your SharePoint sites could not be checked just now."]
    return {int(key) for key, (status, _body) in answers.items() if status == 200}, []


def open_session(user: User, *, refresh: bool = False) -> RestoreSession:
    """The identity's current restore session, resolving its scope when stale."""
    now = timezone.now()
    if not refresh:
        current = (
            RestoreSession.objects.filter(user=user, expires_at__gt=now, explicit=False)
            .order_by("-created_at")
            .first()
        )
        if current is not None:
            return current
    return _resolved(user)


def _resolved(user: User, *, only: int | None = None, explicit: bool = False) -> RestoreSession:
    group_ids, notes = _group_ids_from_graph(user)
    object_ids, more_notes = resolve_object_ids(user, group_ids)
    if only is not None:
        if only not in object_ids:
            raise Http404("No such object.")
        object_ids = [only]
    return RestoreSession.objects.create(
        user=user,
        expires_at=timezone.now() + timedelta(seconds=settings.RESTORE_SESSION_AGE),
        group_ids=group_ids,
        object_ids=object_ids,
        notes=notes + more_notes,
        explicit=explicit,
    )


def start_explicit_session(user: User, object_id: int | None = None) -> RestoreSession:
    """A restore session resolved now, used where named (the API's restore sessions, as
    Veeam's "Create Restore Session for Restore Operator"); narrowed to one object of the
    scope when given (404 outside it)."""
    return _resolved(user, only=object_id, explicit=True)


def explicit_sessions(user: User) -> QuerySet[RestoreSession]:
    """The identity's explicit sessions still alive, newest first."""
    return RestoreSession.objects.filter(
        user=user, explicit=True, expires_at__gt=timezone.now()
    ).order_by("-created_at")


def explicit_session(user: User, session_id: object) -> RestoreSession:
    """One of them by id; 404 for anyone else's, an ended one or a malformed id."""
    return _get(explicit_sessions(user), session_id)


def end_explicit_sessions(user: User, session_id: object = None) -> int:
    """End one explicit session (or all of them): browsing through it stops; restores
    started from it go on (a job keeps what it was given)."""
    sessions = explicit_sessions(user)
    if session_id is not None:
        sessions = sessions.filter(pk=explicit_session(user, session_id).pk)
    return sessions.update(expires_at=timezone.now())


def expire_sessions(grant: OperatorScope) -> int:
    """End the restore sessions a grant changes, so the next page load re-resolves scope."""
    sessions = RestoreSession.objects.filter(expires_at__gt=timezone.now())
    if grant.grantee_user_id is not None:
        sessions = sessions.filter(user_id=grant.grantee_user_id)
    else:
        # Group membership lives in Graph: expire every session of the tenant.
        sessions = sessions.filter(user__tenant_id=grant.tenant_id)
    return sessions.update(expires_at=timezone.now())


@dataclass(frozen=True)
class Scope:
    """The catalog as one restore session may see it. Every getter 404s outside it."""

    session: RestoreSession

    @classmethod
    def for_user(cls, user: User, *, refresh: bool = False) -> Scope:
        return cls(open_session(user, refresh=refresh))

    @property
    def user(self) -> User:
        return self.session.user

    @property
    def object_ids(self) -> list[int]:
        return list(self.session.object_ids)

    # --- objects and restore points ---------------------------------------------------

    def objects(self) -> QuerySet[ProtectedObject]:
        return ProtectedObject.objects.filter(id__in=self.object_ids, excluded=False)

    def object(self, object_id: object) -> ProtectedObject:
        return _get(self.objects(), object_id)

    def restore_points(self, obj: ProtectedObject | None = None) -> QuerySet[RestorePoint]:
        points = RestorePoint.objects.filter(
            object_id__in=self.object_ids,
            status__in=[RestorePoint.Status.SUCCEEDED, RestorePoint.Status.PARTIAL],
        )
        return points.filter(object=obj) if obj is not None else points

    def restore_point(self, point_id: builtins.object) -> RestorePoint:
        return _get(self.restore_points().select_related("object"), point_id)

    def latest_point(self, obj: ProtectedObject) -> RestorePoint | None:
        return self.restore_points(obj).order_by("-seq").first()

    # --- folders and items ------------------------------------------------------------

    def folders(self, point: RestorePoint) -> QuerySet[Folder]:
        """Folders of the point's object as they were at that point."""
        self._check(point.object_id)
        return Folder.objects.filter(valid_at(point.seq), object_id=point.object_id)

    def folder(self, point: RestorePoint, folder_id: builtins.object) -> Folder:
        return _get(self.folders(point), folder_id)

    def items(self, point: RestorePoint | None = None) -> QuerySet[Item]:
        """Items in scope; at one restore point when given, else in any point."""
        if point is None:
            return Item.objects.filter(object_id__in=self.object_ids)
        self._check(point.object_id)
        return Item.objects.filter(valid_at(point.seq), object_id=point.object_id)

    def item(self, item_id: builtins.object) -> Item:
        return _get(self.items().select_related("folder", "object"), item_id)

    # --- restore jobs -------------------------------------------------------------------

    def jobs(self) -> QuerySet[RestoreJob]:
        """The identity's own restore jobs, on objects still in its scope."""
        return RestoreJob.objects.filter(user=self.user, object_id__in=self.object_ids)

    def job(self, job_id: builtins.object) -> RestoreJob:
        return _get(
            self.jobs().select_related("object", "restore_point", "target_object", "writer"), job_id
        )

    def may_skip_consent(self, target: ProtectedObject) -> bool:
        """An operator scope of this identity for `target`'s owner (directly, or through a
        group they belong to) lets it restore into `target` without asking the owner."""
        grants = OperatorScope.objects.filter(
            tenant_id=target.tenant_id, restore_without_asking=True
        ).filter(Q(grantee_user=self.user) | Q(grantee_group_id__in=self.session.group_ids))
        for grant in grants:
            if str(grant.principal_id) == str(target.owner_id):
                return True
            if grant.principal_kind != OperatorScope.PrincipalKind.GROUP:
                continue
            try:
                members = members_of(str(target.tenant_id), str(grant.principal_id))
            except (tokens.TokensUnavailable, GraphError) as error:
                logger.info("Members of %s unavailable: %s", grant.principal_id, error)
                continue  # the group can't be read now: the person is asked instead
            if str(target.owner_id) in members:
                return True
        return False

    def _check(self, object_id: int) -> None:
        if object_id not in self.session.object_ids:
            raise Http404("No such object.")


def _get[M: Model](queryset: QuerySet[M], pk: object) -> M:
    """One row by primary key, or 404 for a missing, malformed or out-of-scope id."""
    try:
        return queryset.get(pk=pk)
    except (ObjectDoesNotExist, ValueError, TypeError, ValidationError) as error:
        raise Http404("Not found.") from error
