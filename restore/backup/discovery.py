"""What to protect: ProtectedObjects from the tenant's directory (application permissions).

Every user with a mailbox (Graph gives such users a `mail` address) gets a mail object;
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
from portal import permissions
from portal.graph import GraphClient, GraphError
from restore.backup.base import BackupError
from restore.models import EntityKind, ProtectedObject, Workload


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
    return _save(tenant, _find(graph))


def _find(graph: GraphClient) -> list[Found]:
    found: list[Found] = []
    users = list(
        graph.iterate(
            "users", **{"$select": "id,displayName,userPrincipalName,mail", "$top": "999"}
        )
    )
    for user in users:
        if user.get("mail"):
            found.append(
                Found(
                    Workload.MAIL,
                    EntityKind.USER,
                    user["id"],
                    user.get("displayName") or user["userPrincipalName"],
                    user.get("userPrincipalName", ""),
                )
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


def _save(tenant: str, found: Iterable[Found]) -> list[ProtectedObject]:
    found = list(found)
    with transaction.atomic():
        existing = {
            (o.workload, str(o.owner_id)): o
            for o in ProtectedObject.objects.filter(tenant_id=tenant)
        }
        new, changed = [], []
        for f in found:
            obj = existing.get((f.workload, f.owner_id))
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
    return list(ProtectedObject.objects.filter(tenant_id=tenant))
