"""SharePoint sites and Teams channels' files through Graph: sites (by id, a group's root
site, search, getAllSites), their document libraries, the apps granted a site
(Sites.Selected), a team's channels and a channel's files folder.

Paging is Graph's: `$top`, then `@odata.nextLink` with a `$skiptoken`. A delegated caller
sees only the sites SharePoint would let them open (sandbox/graph/access.py).
"""

from __future__ import annotations

import secrets
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpResponse

from sandbox.graph import access, errors, odata
from sandbox.graph import permissions as p
from sandbox.graph.call import Call, json_response
from sandbox.graph.drive import Paths, drive_json, item_json, root_of
from sandbox.graph.mail import format_time
from sandbox.models import Channel, DirectoryUser, Drive, DriveItem, Site, SiteGrant

CONTEXT = "https://graph.microsoft.com/v1.0/$metadata#"


def site_json(site: Site) -> dict[str, Any]:
    host, collection, web = [*site.id.split(","), "", ""][:3]
    return {
        "id": site.id,
        "name": site.name,
        "displayName": site.display_name,
        "description": site.description,
        "webUrl": site.web_url,
        "createdDateTime": format_time(site.created_at),
        "lastModifiedDateTime": format_time(site.created_at),
        "siteCollection": {"hostname": host},
        "sharepointIds": {"siteId": collection, "webId": web, "siteUrl": site.web_url},
    }


def _page(call: Call, rows: QuerySet[Any], shape: Any, name: str) -> HttpResponse:
    top = odata.integer_option(call.request, "$top", 100, 999)
    skip = odata.skip_of(call.request)
    page, next_link = odata.page(
        call.request, list(rows[skip : skip + top + 1]), top=top, skip=skip, use_skiptoken=True
    )
    body: dict[str, Any] = {
        "@odata.context": f"{CONTEXT}{name}",
        "value": [odata.apply_select(shape(r), odata.selected(call.request)) for r in page],
    }
    if next_link:
        body["@odata.nextLink"] = next_link
    return json_response(body)


def _sites(call: Call) -> QuerySet[Site]:
    return Site.objects.filter(tenant_id=call.caller.tenant_id).order_by("created_at", "id")


def all_sites(call: Call) -> HttpResponse:
    """GET /sites/getAllSites: every site of the tenant (application permissions only)."""
    return _page(call, _sites(call), site_json, "sites")


def search_sites(call: Call) -> HttpResponse:
    """GET /sites?search={query}: sites whose name or title has the words ('*': all).
    Delegated callers get the sites they may open."""
    query = call.query.get("search")
    if query is None:
        raise errors.bad_request("The 'search' query option is required.", "invalidRequest")
    rows = _sites(call)
    words = [w for w in query.replace('"', " ").split() if w != "*"]
    for word in words:
        rows = rows.filter(Q(display_name__icontains=word) | Q(name__icontains=word))
    user = call.caller.user
    if not call.caller.app_only and user is not None:
        rows = rows.filter(id__in=[s.id for s in rows if access.user_reaches_site(user, s)])
    return _page(call, rows, site_json, "sites")


def _site(call: Call, permission: p.Permission = p.SITES_READ) -> Site:
    return access.site(call.caller, call.params["site"], permission)


def get_site(call: Call) -> HttpResponse:
    return json_response(
        {"@odata.context": f"{CONTEXT}sites/$entity", **_select(call, site_json(_site(call)))}
    )


def get_site_by_path(call: Call) -> HttpResponse:
    """GET /sites/{hostname}:/{server-relative path}: a site by its URL (site-getbypath)."""
    wanted = f"https://{call.params['host']}/{call.params['path'].strip('/')}".lower()
    found = next((s for s in _sites(call) if s.web_url.lower() == wanted), None)
    if found is None:
        raise errors.GraphError(404, "itemNotFound", "Requested site could not be found")
    site = access.site(call.caller, found.id, p.SITES_READ)
    return json_response(
        {"@odata.context": f"{CONTEXT}sites/$entity", **_select(call, site_json(site))}
    )


def site_drive(call: Call) -> HttpResponse:
    """GET /sites/{id}/drive: the site's default document library (a team site's is its
    group's drive, whose `owner` names the group)."""
    site = _site(call, p.FILES_READ)
    rows = Drive.objects.filter(site=site).select_related("owner_group", "owner_user", "site")
    drive = rows.filter(owner_group__isnull=False).first() or rows.order_by("created_at").first()
    if drive is None:
        raise errors.not_found(errors.DRIVE)
    return json_response(
        {"@odata.context": f"{CONTEXT}drives/$entity", **_select(call, library_json(drive))}
    )


def _select(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    return odata.apply_select(body, odata.selected(call.request))


def group_site(call: Call) -> HttpResponse:
    """GET /groups/{id}/sites/root: the team site of a Microsoft 365 group."""
    group = access.group(call.caller, call.params["group"])
    found = Site.objects.filter(group=group, kind=Site.Kind.TEAM).first()
    if found is None:
        raise errors.not_found(errors.DRIVE)
    site = access.site(call.caller, found.id, p.SITES_READ)
    return json_response(
        {"@odata.context": f"{CONTEXT}sites/$entity", **_select(call, site_json(site))}
    )


def library_json(drive: Drive) -> dict[str, Any]:
    body = drive_json(drive)
    body["driveType"] = "documentLibrary"
    return body


def site_drives(call: Call) -> HttpResponse:
    """GET /sites/{id}/drives: every document library of the site."""
    site = _site(call, p.FILES_READ)
    rows = Drive.objects.filter(site=site).select_related("owner_group", "owner_user", "site")
    return _page(call, rows.order_by("created_at", "id"), library_json, "drives")


# --- Sites.Selected grants --------------------------------------------------------------


def grant_json(grant: SiteGrant) -> dict[str, Any]:
    application = {"id": grant.app_id, "displayName": grant.app_display_name}
    return {
        "id": grant.id,
        "roles": list(grant.roles),
        "grantedToIdentitiesV2": [{"application": application}],
        "grantedToIdentities": [{"application": application}],
    }


def list_permissions(call: Call) -> HttpResponse:
    site = _site(call)
    return _page(call, SiteGrant.objects.filter(site=site).order_by("id"), grant_json,
                 "permissions")  # fmt: skip


ROLES = ("read", "write", "manage", "fullcontrol")


def grant_permission(call: Call) -> HttpResponse:
    """POST /sites/{id}/permissions: grant an application a role on the site (only
    application permissions can be created this way)."""
    site = _site(call)
    body = call.json()
    roles = body.get("roles")
    identities = body.get("grantedToIdentities") or body.get("grantedTo") or []
    if isinstance(identities, dict):
        identities = [identities]
    apps = [i.get("application") for i in identities if isinstance(i, dict)]
    if (
        not isinstance(roles, list)
        or not roles
        or any(r not in ROLES for r in roles)
        or len(apps) != 1
        or not isinstance(apps[0], dict)
        or not apps[0].get("id")
    ):
        raise errors.bad_request(
            "Provide roles (read, write, manage, fullcontrol) and one application in "
            "grantedToIdentities.",
            "invalidRequest",
        )
    grant = SiteGrant.objects.create(
        id=secrets.token_urlsafe(24),
        site=site,
        app_id=str(apps[0]["id"]),
        app_display_name=str(apps[0].get("displayName") or ""),
        roles=roles,
    )
    return json_response(grant_json(grant), status=201)


# --- Teams channels ----------------------------------------------------------------------


def channel_json(channel: Channel) -> dict[str, Any]:
    return {
        "id": channel.id,
        "displayName": channel.display_name,
        "description": channel.description,
        "createdDateTime": format_time(channel.created_at),
        "membershipType": channel.membership_type,
        "webUrl": f"https://teams.microsoft.com/l/channel/{channel.id}",
    }


def _team_channels(call: Call) -> QuerySet[Channel]:
    group = access.group(call.caller, call.params["group"])
    channels = Channel.objects.filter(team=group).select_related("site")
    user: DirectoryUser | None = call.caller.user
    if call.caller.app_only or user is None:
        return channels
    # A person sees the team's standard channels, and the others they are a member of.
    visible = [c.id for c in channels if c.site is None or access.user_reaches_site(user, c.site)]
    return channels.filter(id__in=visible)


def list_channels(call: Call) -> HttpResponse:
    return _page(call, _team_channels(call).order_by("created_at", "id"), channel_json,
                 "teams/channels")  # fmt: skip


def files_folder(call: Call) -> HttpResponse:
    """A channel's files: a folder of the team's library (standard channels), or the root
    of the channel site's library (private and shared channels)."""
    channel = _team_channels(call).filter(id=call.params["channel"]).first()
    if channel is None:
        raise errors.not_found(errors.DRIVE)
    if channel.site is not None:
        drive = Drive.objects.filter(site=channel.site).order_by("created_at", "id").first()
        folder = root_of(drive) if drive else None
    else:
        drive = Drive.objects.filter(owner_group=channel.team).first()
        folder = (
            DriveItem.objects.filter(
                drive=drive,
                parent=root_of(drive),
                name__iexact=channel.display_name,
                deleted_at__isnull=True,
            ).first()
            if drive
            else None
        )
    if drive is None or folder is None:
        raise errors.not_found(errors.DRIVE)
    access.drive(call.caller, "drives", drive.id, p.FILES_READ)
    body = item_json(call.request, folder, Paths(), with_download=False)
    body["parentReference"]["driveType"] = "documentLibrary"
    return json_response({"@odata.context": f"{CONTEXT}driveItem/$entity", **body})
