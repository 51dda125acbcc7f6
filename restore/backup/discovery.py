"""What to protect: ProtectedObjects from the tenant's directory (application permissions).

Every user with a mailbox (Graph gives such users a `mail` address) gets a mail, a
calendar and a contacts object (MAILBOX_WORKLOADS);
every user's OneDrive and every Microsoft 365 group's drive gets a onedrive object
(`graph_ref` = the drive id). Drives are asked for with `$batch`, 20 at a time; a user
without a OneDrive answers 404 and gets none. Running it again updates names and
addresses and adds what is new; it never deletes (backups of people who left stay).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from authflow import tenants, tokens
from authflow.flows import FlowError
from authflow.models import Tenant
from portal import audit, permissions
from portal.graph import GraphClient, GraphError
from restore.backup.base import BackupError
from restore.models import EntityKind, ProtectedObject, Workload

# What every mailbox holds, each backed up as an object of its own.
MAILBOX_WORKLOADS = (Workload.MAIL, Workload.CALENDAR, Workload.CONTACTS)


@dataclass(frozen=True)
class Found:
    workload: str
    entity: str
    owner_id: str
    name: str
    address: str
    graph_ref: str = ""


def tenant_uuid(tenant: str) -> str:
    """The tenant's id as a GUID (settings may name it by domain)."""
    try:
        return str(uuid.UUID(tenant))
    except ValueError:
        claims = tokens.app_token_claims(tenant) or {}
        if not claims.get("tid"):
            raise BackupError(f"Could not tell the id of tenant {tenant}.") from None
        return str(uuid.UUID(claims["tid"]))


def discover_all() -> dict[str, list[ProtectedObject] | BackupError | GraphError | FlowError]:
    """Discover every active tenant; one tenant's failure does not stop the others.
    Returns, per tenant id, its objects or the error it failed with."""
    outcome: dict[str, list[ProtectedObject] | BackupError | GraphError | FlowError] = {}
    for tenant_id in tenants.active_ids():
        try:
            outcome[str(tenant_id)] = discover(str(tenant_id))
        except (BackupError, GraphError, FlowError) as error:
            outcome[str(tenant_id)] = error
    return outcome


def discover(tenant: str | None = None) -> list[ProtectedObject]:
    """Create or update the tenant's protected objects; returns them all."""
    tenant = tenant_uuid(tenant or settings.MICROSOFT_TENANT_ID)
    rule = permissions.requirement("directory", "tenant", "discover")
    granted = tokens.app_permissions(tenant)
    if granted is not None and (missing := permissions.missing_permissions(rule, granted)):
        raise BackupError(
            f"The portal app lacks the application permission {' and '.join(missing)} "
            "needed to find the tenant's mailboxes and drives."
        )
    graph = tokens.graph_as_app(tenant)
    found = _find(graph)
    keep = _protected(graph, tenant, found)
    return _save(tenant, found, keep)


def _members(graph: GraphClient, group_ids: Iterable[str]) -> set[str]:
    members: set[str] = set()
    for group_id in group_ids:
        members.update(
            m["id"]
            for m in graph.iterate(f"groups/{group_id}/members", **{"$select": "id"})
            if m.get("@odata.type", "#microsoft.graph.user") == "#microsoft.graph.user"
        )
    return members


def _protected(graph: GraphClient, tenant: str, found: list[Found]) -> set[tuple[str, str]]:
    """The (workload, owner) pairs the tenant's "what to protect" keeps: everyone, or the
    users and groups selected (a group's members expanded); exclusions (a user, or every
    member of a group) win over inclusions. HTTP (group members); no transaction."""
    row = Tenant.objects.filter(tenant_id=tenant).first()
    protection = (row.protection if row else None) or {}
    include = protection.get("include", []) if protection.get("mode") == "selected" else None
    exclude = protection.get("exclude", [])
    if include is None and not exclude:
        return {(f.workload, f.owner_id) for f in found}

    def ids(entries: list[dict[str, str]], kind: str) -> set[str]:
        return {e["id"] for e in entries if e.get("kind") == kind}

    out_groups = ids(exclude, "group")
    out_users = ids(exclude, "user") | _members(graph, out_groups)
    if include is None:
        in_users: set[str] | None = None
        in_groups: set[str] | None = None
    else:
        in_groups = ids(include, "group")
        in_users = ids(include, "user") | _members(graph, in_groups)
    keep = set()
    for f in found:
        if f.entity == EntityKind.GROUP:
            wanted = in_groups is None or f.owner_id in in_groups
            unwanted = f.owner_id in out_groups
        else:
            wanted = in_users is None or f.owner_id in in_users
            unwanted = f.owner_id in out_users
        if wanted and not unwanted:
            keep.add((f.workload, f.owner_id))
    return keep


def _find(graph: GraphClient) -> list[Found]:
    found: list[Found] = []
    users = list(
        graph.iterate(
            "users", **{"$select": "id,displayName,userPrincipalName,mail", "$top": "999"}
        )
    )
    for user in users:
        if user.get("mail"):
            found.extend(
                Found(
                    workload,
                    EntityKind.USER,
                    user["id"],
                    user.get("displayName") or user["userPrincipalName"],
                    user.get("userPrincipalName", ""),
                )
                for workload in MAILBOX_WORKLOADS
            )
    groups = list(
        graph.iterate(
            "groups",
            **{
                "$filter": "groupTypes/any(c:c eq 'Unified')",
                "$select": "id,displayName,mail",
                "$top": "999",
            },
        )
    )
    user_drives = _drives(graph, [f"users/{u['id']}/drive" for u in users])
    group_drives = _drives(graph, [f"groups/{g['id']}/drive" for g in groups])
    for user, drive_id in zip(users, user_drives, strict=True):
        if drive_id:
            found.append(
                Found(
                    Workload.ONEDRIVE,
                    EntityKind.USER,
                    user["id"],
                    user.get("displayName") or user["userPrincipalName"],
                    user.get("userPrincipalName", ""),
                    drive_id,
                )
            )
    for group, drive_id in zip(groups, group_drives, strict=True):
        if drive_id:
            found.append(
                Found(
                    Workload.ONEDRIVE,
                    EntityKind.GROUP,
                    group["id"],
                    group.get("displayName", ""),
                    group.get("mail") or "",
                    drive_id,
                )
            )
    return found


def _drives(graph: GraphClient, paths: list[str]) -> list[str]:
    """The drive id at each path ("" where there is none)."""
    answers = graph.get_many({str(n): f"/{path}?$select=id" for n, path in enumerate(paths)})
    ids: list[str] = []
    for n, path in enumerate(paths):
        status, body = answers[str(n)]
        if status == 200:
            ids.append(body["id"])
        elif status in (404, 403):
            ids.append("")
        else:  # failed inside the batch: ask on its own (raises GraphError if it fails again)
            ids.append(graph.get(path, **{"$select": "id"})["id"])
    return ids


def _save(
    tenant: str, found: Iterable[Found], keep: set[tuple[str, str]] | None = None
) -> list[ProtectedObject]:
    """Create and update the objects kept; the others are excluded (an existing object
    is disabled and marked excluded, a new one is not created); audited when the
    exclusions change."""
    found = list(found)
    keep = {(f.workload, f.owner_id) for f in found} if keep is None else keep
    with transaction.atomic():
        existing = {
            (o.workload, str(o.owner_id)): o
            for o in ProtectedObject.objects.filter(tenant_id=tenant)
        }
        new, changed = [], []
        newly_excluded: list[ProtectedObject] = []
        back_in: list[ProtectedObject] = []
        for f in found:
            obj = existing.get((f.workload, f.owner_id))
            if (f.workload, f.owner_id) not in keep:
                if obj is not None and not obj.excluded:
                    newly_excluded.append(obj)
                continue
            if obj is not None and obj.excluded:
                back_in.append(obj)
            values = {
                "entity": f.entity,
                "name": f.name[:256],
                "address": f.address[:320],
                "graph_ref": f.graph_ref,
            }
            if obj is None:
                new.append(
                    ProtectedObject(
                        tenant_id=tenant, workload=f.workload, owner_id=f.owner_id, **values
                    )
                )
            elif any(getattr(obj, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(obj, k, v)
                changed.append(obj)
        ProtectedObject.objects.bulk_create(new, ignore_conflicts=True)
        ProtectedObject.objects.bulk_update(changed, ["entity", "name", "address", "graph_ref"])
        ProtectedObject.objects.filter(pk__in=[o.pk for o in newly_excluded]).update(
            excluded=True, enabled=False
        )
        ProtectedObject.objects.filter(pk__in=[o.pk for o in back_in]).update(
            excluded=False, enabled=True
        )
        if newly_excluded or back_in:
            audit.record(
                "protection.applied",
                target=tenant,
                tenant_id=tenant,
                details={
                    "excluded": [str(o) for o in newly_excluded][:50],
                    "included_again": [str(o) for o in back_in][:50],
                },
            )
    return list(ProtectedObject.objects.filter(tenant_id=tenant, excluded=False))
