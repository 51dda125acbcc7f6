"""What to protect: ProtectedObjects from the tenant's directory (application permissions).

Every user with a mailbox (Graph gives such users a `mail` address) gets a mail, a
calendar and a contacts object (MAILBOX_WORKLOADS);
every user's OneDrive and every Microsoft 365 group's drive gets a onedrive object
(`graph_ref` = the drive id), and every Microsoft 365 group a calendar object (entity
"group": Graph serves it only to members, so it is backed up with a delegated token).
Drives are asked for with `$batch`, 20 at a time; a user
without a OneDrive answers 404 and gets none. Running it again updates names and
addresses and adds what is new; it never deletes (backups of people who left stay).

SharePoint: every document library of every site (`sites/getAllSites`, then each site's
`drives`) gets a sharepoint object (entity "site", `graph_ref` = the drive id, the site
and library in `details`), except a team site's default library, which is already its
group's OneDrive object. A team site is its group's (`groups/{id}/sites/root`); a private
or shared channel's site is found through the channel's `filesFolder`. `owner_id` says
whose membership opens a library: the team's group, else the site itself (its web id),
which scope.py then asks Graph about with the person's token. With Sites.Selected alone
(no getAllSites) only the groups' team sites are looked for, and every site the app was
not granted is named in `site_problems` (logged, and shown by the onboarding check).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction

from authflow import tenants, tokens
from authflow.flows import FlowError
from authflow.models import Tenant
from portal import audit, permissions
from portal.graph import GraphClient, GraphError
from restore.backup.base import BackupError
from restore.models import EntityKind, ProtectedObject, Workload

# What every mailbox holds, each backed up as an object of its own (To Do lives in the
# same Exchange mailbox: a person with mail has task lists).
MAILBOX_WORKLOADS = (Workload.MAIL, Workload.CALENDAR, Workload.CONTACTS, Workload.TASKS)


@dataclass(frozen=True)
class Found:
    workload: str
    entity: str
    owner_id: str
    name: str
    address: str
    graph_ref: str = ""
    details: dict[str, Any] = field(default_factory=dict)


logger = logging.getLogger(__name__)
SITE_FIELDS = "id,name,displayName,webUrl"


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
    found, problems = _find(graph)
    for problem in problems:
        logger.warning("Discovery of tenant %s: %s", tenant, problem)
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
        if f.entity in (EntityKind.GROUP, EntityKind.SITE):  # a team's libraries: its group
            wanted = in_groups is None or f.owner_id in in_groups
            unwanted = f.owner_id in out_groups
        else:
            wanted = in_users is None or f.owner_id in in_users
            unwanted = f.owner_id in out_users
        if wanted and not unwanted:
            keep.add((f.workload, f.owner_id))
    return keep


def check_sites(tenant: str | None = None) -> list[str]:
    """What keeps discovery from some SharePoint sites, one sentence each (naming the
    site): for the onboarding's permission check. Empty when every site is reachable."""
    tenant = tenant_uuid(tenant or settings.MICROSOFT_TENANT_ID)
    return _find(tokens.graph_as_app(tenant))[1]


def _find(graph: GraphClient) -> tuple[list[Found], list[str]]:
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
    # Every Microsoft 365 group has a calendar; Graph serves it to members only
    # (delegated), so its backups run as one of them (restore/backup/tokens.py).
    found.extend(
        Found(
            Workload.CALENDAR,
            EntityKind.GROUP,
            group["id"],
            group.get("displayName", ""),
            group.get("mail") or "",
        )
        for group in groups
    )
    libraries, problems = site_libraries(graph, groups, skip={d for d in group_drives if d})
    return found + libraries, problems


# --- SharePoint sites -----------------------------------------------------------------------


def site_owner_id(site_id: str) -> str:
    """A site's own id as a GUID: the web id of "host,collection id,web id"."""
    try:
        return str(uuid.UUID(site_id.split(",")[-1]))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, site_id))


def _all_sites(graph: GraphClient, problems: list[str]) -> list[dict[str, Any]] | None:
    """Every site (getAllSites), or None when the app may not list them (Sites.Selected)."""
    try:
        return list(graph.iterate("sites/getAllSites", **{"$select": SITE_FIELDS, "$top": "999"}))
    except GraphError as error:
        if error.status != 403:
            raise
        problems.append(
            "The portal app may not list every site (getAllSites needs the application "
            "permission Sites.Read.All; with Sites.Selected only the groups' team sites an "
            "admin granted are found)."
        )
        return None


def _channel_drives(graph: GraphClient, groups: list[dict[str, Any]]) -> dict[str, dict]:
    """Drive id -> the private or shared channel whose site holds it."""
    answers = graph.get_many(
        {str(n): f"/teams/{g['id']}/channels?$select=id,displayName,membershipType"
         for n, g in enumerate(groups)}
    )  # fmt: skip
    channels: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for n, group in enumerate(groups):
        status, body = answers[str(n)]
        if status != 200:  # not a team (404), or the app may not read its channels
            continue
        for channel in body.get("value", []):
            if channel.get("membershipType") in ("private", "shared"):
                channels[f"c{len(channels)}"] = (group, channel)
    folders = graph.get_many(
        {
            key: f"/teams/{g['id']}/channels/{c['id']}/filesFolder"
            for key, (g, c) in channels.items()
        }
    )
    found: dict[str, dict] = {}
    for key, (group, channel) in channels.items():
        status, body = folders[key]
        if status == 200 and (drive := (body.get("parentReference") or {}).get("driveId")):
            found[drive] = {
                "team_id": group["id"],
                "team": group.get("displayName", ""),
                "name": channel.get("displayName", ""),
                "membership": channel.get("membershipType", ""),
            }
    return found


def _owners(graph: GraphClient, group_ids: set[str]) -> dict[str, list[dict[str, str]]]:
    ids = sorted(group_ids)
    answers = graph.get_many(
        {str(n): f"/groups/{g}/owners?$select=id,displayName,userPrincipalName"
         for n, g in enumerate(ids)}
    )  # fmt: skip
    owners: dict[str, list[dict[str, str]]] = {}
    for n, group_id in enumerate(ids):
        status, body = answers[str(n)]
        owners[group_id] = [
            {"id": o["id"], "name": o.get("displayName", ""), "upn": o.get("userPrincipalName", "")}
            for o in (body.get("value", []) if status == 200 else [])
        ]
    return owners


def site_libraries(
    graph: GraphClient, groups: list[dict[str, Any]], *, skip: set[str]
) -> tuple[list[Found], list[str]]:
    """Every library of every site the app may read (but the drives in `skip`), and a
    sentence for each site it may not."""
    problems: list[str] = []
    answers = graph.get_many(
        {
            str(n): f"/groups/{g['id']}/sites/root?$select={SITE_FIELDS}"
            for n, g in enumerate(groups)
        }
    )
    team_sites: dict[str, dict[str, Any]] = {}  # site id -> group
    sites = _all_sites(graph, problems)
    listed = sites is not None
    sites = sites or []
    for n, group in enumerate(groups):
        status, body = answers[str(n)]
        if status == 200:
            team_sites[body["id"]] = group
            if not listed:
                sites.append(body)
        elif status == 403:
            problems.append(
                f"The portal app may not read the team site of {group.get('displayName', '')}: "
                "with Sites.Selected an admin grants it each site (POST /sites/{id}/permissions)."
            )
    channels = _channel_drives(graph, groups)
    drives = graph.get_many(
        {
            str(n): f"/sites/{site['id']}/drives?$select=id,name,webUrl"
            for n, site in enumerate(sites)
        }
    )
    owners = _owners(
        graph,
        {g["id"] for g in team_sites.values()} | {c["team_id"] for c in channels.values()},
    )
    found: list[Found] = []
    for n, site in enumerate(sites):
        status, body = drives[str(n)]
        title = site.get("displayName") or site.get("name", "")
        if status != 200:
            if status in (403, 404):
                problems.append(
                    f"The portal app may not read the libraries of the site {title} "
                    f"({site.get('webUrl', '')}): grant it the site (Sites.Selected) or "
                    "Sites.Read.All."
                )
                continue
            raise GraphError(status, str((body or {}).get("error", {}).get("code", "")), title)
        team = team_sites.get(site["id"])
        for library in body.get("value", []):
            if library["id"] in skip:
                continue
            channel = channels.get(library["id"])
            if team is not None:
                kind, owner_id, site_owners = "team", team["id"], owners.get(team["id"], [])
            elif channel is not None:
                kind, owner_id = "channel", site_owner_id(site["id"])
                site_owners = owners.get(channel["team_id"], [])
            else:
                kind, owner_id, site_owners = "communication", site_owner_id(site["id"]), []
            found.append(
                Found(
                    Workload.SHAREPOINT,
                    EntityKind.SITE,
                    owner_id,
                    f"{title} / {library.get('name', '')}",
                    library.get("webUrl", ""),
                    library["id"],
                    {
                        "site_id": site["id"],
                        "site_title": title,
                        "site_url": site.get("webUrl", ""),
                        "site_kind": kind,
                        "group_id": team["id"] if team else (channel or {}).get("team_id", ""),
                        "channel": channel or {},
                        "library": library.get("name", ""),
                        "library_url": library.get("webUrl", ""),
                        "owners": site_owners,
                    },
                )
            )
    return found, problems


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
        existing = {_key(o.workload, str(o.owner_id), o.graph_ref): o
                    for o in ProtectedObject.objects.filter(tenant_id=tenant)}  # fmt: skip
        new, changed = [], []
        newly_excluded: list[ProtectedObject] = []
        back_in: list[ProtectedObject] = []
        for f in found:
            obj = existing.get(_key(f.workload, f.owner_id, f.graph_ref))
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
                "details": f.details,
                "owner_id": uuid.UUID(f.owner_id),
            }
            if obj is None:
                new.append(ProtectedObject(tenant_id=tenant, workload=f.workload, **values))
            elif any(getattr(obj, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(obj, k, v)
                changed.append(obj)
        ProtectedObject.objects.bulk_create(new, ignore_conflicts=True)
        ProtectedObject.objects.bulk_update(changed, [*values])
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


def _key(workload: str, owner_id: str, graph_ref: str) -> tuple[str, str]:
    """How discovery recognises an object again: its owner; a site library, its drive."""
    return (workload, graph_ref if workload == Workload.SHAREPOINT else owner_id)
