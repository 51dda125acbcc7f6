"""SharePoint team sites of Microsoft 365 groups: find a site, and who owns it.

- `GET /sites?search={query}`: sites whose name or display name contains the words.
- `GET /sites/{hostname}:/sites/{name}`: a site by its path (site-getbypath).
- `GET /sites/{site-id}/drive`: its document library; for a group's team site the
  drive's `owner` is the group (identitySet with `group`), which is how a caller learns
  the owners (the group's owners).

Every Microsoft 365 group with a drive has a team site at
`https://<tenant>.sharepoint.com/sites/<mailNickname>`; the site id has SharePoint's
shape `{hostname},{site collection id},{web id}`.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpResponse

from sandbox.graph import errors
from sandbox.graph.call import Call, json_response
from sandbox.graph.drive import drive_json
from sandbox.models import Group

CONTEXT = "https://graph.microsoft.com/v1.0/$metadata#"
NAMESPACE = uuid.UUID("7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f")


def hostname(group: Group) -> str:
    domain = group.tenant.domains.filter(is_default=True).first()
    label = (domain.name if domain else str(group.tenant_id)).split(".")[0]
    return f"{label}.sharepoint.com"


def site_id(group: Group) -> str:
    collection = uuid.uuid5(NAMESPACE, f"site:{group.id}")
    web = uuid.uuid5(NAMESPACE, f"web:{group.id}")
    return f"{hostname(group)},{collection},{web}"


def site_json(group: Group) -> dict[str, Any]:
    return {
        "id": site_id(group),
        "name": group.mail_nickname,
        "displayName": group.display_name,
        "description": group.description,
        "webUrl": f"https://{hostname(group)}/sites/{group.mail_nickname}",
        "siteCollection": {"hostname": hostname(group)},
    }


def _sites(call: Call) -> list[Group]:
    """The tenant's team sites: its Microsoft 365 groups that have a drive."""
    return [
        g
        for g in Group.objects.filter(tenant_id=call.caller.tenant_id, drive__isnull=False)
        .select_related("tenant")
        .order_by("display_name")
        if "Unified" in g.group_types
    ]


def search(call: Call) -> HttpResponse:
    query = call.query.get("search", "").strip().strip('"').lower()
    if not query:
        raise errors.bad_request("Search query is required: use /sites?search={query}.")
    words = query.rstrip("*").split()
    found = [
        g
        for g in _sites(call)
        if all(w in g.display_name.lower() or w in g.mail_nickname.lower() for w in words)
    ]
    return json_response(
        {"@odata.context": f"{CONTEXT}sites", "value": [site_json(g) for g in found]}
    )


def _site(call: Call) -> Group:
    host, path = call.params.get("host"), call.params.get("path")
    ref = call.params.get("site", "")
    for group in _sites(call):
        if host and path is not None:
            if host.lower() == hostname(group) and path.strip("/").lower() == (
                f"sites/{group.mail_nickname}".lower()
            ):
                return group
        elif ref.lower() == site_id(group).lower():
            return group
    raise errors.GraphError(404, "itemNotFound", "Requested site could not be found")


def get_site(call: Call) -> HttpResponse:
    return json_response({"@odata.context": f"{CONTEXT}sites/$entity", **site_json(_site(call))})


def site_drive(call: Call) -> HttpResponse:
    group = _site(call)
    return json_response({"@odata.context": f"{CONTEXT}drives/$entity", **drive_json(group.drive)})
