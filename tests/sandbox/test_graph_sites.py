"""SharePoint sites and Teams channels' files through Graph, as Microsoft documents them:
getAllSites (application only) and /sites?search with paging, a site's libraries, a
group's team site, a private channel's own site, Sites.Selected grants, throttling."""

from __future__ import annotations

import pytest

from sandbox.models import Fault, ServicePrincipal
from tests.sandbox.graph import Graph, app_token, error_code, user_token


@pytest.fixture
def app(sandbox) -> Graph:
    return Graph(app_token(sandbox))


def _all(graph: Graph, path: str) -> list[dict]:
    found, url = [], path
    while url:
        page = graph.ok("GET", url)
        found += page["value"]
        url = page.get("@odata.nextLink")
    return found


def test_get_all_sites_pages_every_site_and_is_application_only(sandbox, app):
    first = app.ok("GET", "sites/getAllSites?$top=2")
    sites = _all(app, "sites/getAllSites?$top=2")
    delegated = Graph(user_token(sandbox, "alice")).get("sites/getAllSites")

    assert len(first["value"]) == 2
    assert "@odata.nextLink" in first
    names = {s["displayName"] for s in sites}
    assert {"Projects", "Finance", "Finance - Audit", "Dev/Team/1", "All Staff"} <= names
    assert len({s["id"] for s in sites}) == len(sites)
    projects = next(s for s in sites if s["displayName"] == "Projects")
    assert projects["webUrl"] == "https://contoso.sharepoint.com/sites/Projects"
    assert projects["id"].startswith("contoso.sharepoint.com,")
    assert delegated.status_code == 403


def test_search_shows_a_person_only_the_sites_they_may_open(sandbox, app):
    alice = Graph(user_token(sandbox, "alice", ["Sites.Read.All"]))
    frank = Graph(user_token(sandbox, "frank", ["Sites.Read.All"]))

    everything = {s["displayName"] for s in _all(app, "sites?search=*")}
    alices = {s["displayName"] for s in _all(alice, "sites?search=*")}
    franks = {s["displayName"] for s in _all(frank, "sites?search=Finance")}

    assert "Projects" in everything
    assert {"Finance", "Finance - Audit"} <= alices
    assert "Projects" not in alices
    assert franks == {"Finance"}  # in the team, not in its private channel


def test_a_site_lists_every_library_and_a_group_finds_its_team_site(sandbox, app):
    projects = next(s for s in _all(app, "sites?search=Projects"))
    drives = app.ok("GET", f"sites/{projects['id']}/drives")["value"]
    finance_group = app.ok("GET", "groups?$filter=displayName eq 'Finance'")["value"][0]
    team_site = app.ok("GET", f"groups/{finance_group['id']}/sites/root")
    team_drives = app.ok("GET", f"sites/{team_site['id']}/drives")["value"]
    group_drive = app.ok("GET", f"groups/{finance_group['id']}/drive")

    assert sorted(d["name"] for d in drives) == ["Documents", "Plans"]
    assert all(d["driveType"] == "documentLibrary" for d in drives)
    documents = next(d for d in drives if d["name"] == "Documents")
    delta = app.ok("GET", f"drives/{documents['id']}/root/delta")["value"]
    assert any(e["name"] == "Roadmap.docx" for e in delta)
    assert team_site["displayName"] == "Finance"
    assert [d["id"] for d in team_drives] == [group_drive["id"]]


def test_channels_and_their_files_folders(sandbox, app):
    group = app.ok("GET", "groups?$filter=displayName eq 'Finance'")["value"][0]
    channels = app.ok("GET", f"teams/{group['id']}/channels")["value"]
    by_name = {c["displayName"]: c for c in channels}
    general = app.ok("GET", f"teams/{group['id']}/channels/{by_name['General']['id']}/filesFolder")
    audit = app.ok("GET", f"teams/{group['id']}/channels/{by_name['Audit']['id']}/filesFolder")
    group_drive = app.ok("GET", f"groups/{group['id']}/drive")
    frank = Graph(user_token(sandbox, "frank", ["Channel.ReadBasic.All"]))
    franks = frank.ok("GET", f"teams/{group['id']}/channels")["value"]

    assert by_name["Audit"]["membershipType"] == "private"
    assert by_name["General"]["membershipType"] == "standard"
    assert general["name"] == "General"
    assert general["parentReference"]["driveId"] == group_drive["id"]
    assert audit["parentReference"]["driveId"] != group_drive["id"]  # the channel's own site
    assert "root" in audit
    assert [c["displayName"] for c in franks] == ["General"]


def test_a_non_member_may_not_write_into_a_private_channel_library(sandbox, app):
    group = app.ok("GET", "groups?$filter=displayName eq 'Finance'")["value"][0]
    audit = next(
        c
        for c in app.ok("GET", f"teams/{group['id']}/channels")["value"]
        if c["displayName"] == "Audit"
    )
    folder = app.ok("GET", f"teams/{group['id']}/channels/{audit['id']}/filesFolder")
    drive = folder["parentReference"]["driveId"]
    path = f"drives/{drive}/items/{folder['id']}:/note.txt:/createUploadSession"

    refused = Graph(user_token(sandbox, "frank")).post(path, json={})
    allowed = Graph(user_token(sandbox, "alice")).post(path, json={})

    assert refused.status_code == 403
    assert error_code(refused) == "accessDenied"
    assert allowed.status_code == 200
    assert allowed.json()["uploadUrl"]


def test_sites_selected_reaches_only_granted_sites(sandbox, app):
    projects = next(s for s in _all(app, "sites?search=Projects"))
    finance = next(s for s in _all(app, "sites?search=Finance") if s["displayName"] == "Finance")
    ServicePrincipal.objects.filter(tenant_id=sandbox.tenant_id).update(
        graph_app_roles=["User.Read.All", "GroupMember.Read.All", "Sites.Selected"]
    )
    selected = Graph(app_token(sandbox))

    denied = selected.get(f"sites/{projects['id']}/drives")
    search = selected.get("sites?search=*")
    ServicePrincipal.objects.filter(tenant_id=sandbox.tenant_id).update(
        graph_app_roles=["Sites.FullControl.All"]
    )
    admin_app = Graph(app_token(sandbox))
    granted = admin_app.post(
        f"sites/{projects['id']}/permissions",
        json={
            "roles": ["read"],
            "grantedToIdentities": [
                {"application": {"id": sandbox.confidential_client_id, "displayName": "Lifeboat"}}
            ],
        },
    )
    bad = admin_app.post(f"sites/{projects['id']}/permissions", json={"roles": ["owner"]})
    listed = admin_app.ok("GET", f"sites/{projects['id']}/permissions")["value"]
    ServicePrincipal.objects.filter(tenant_id=sandbox.tenant_id).update(
        graph_app_roles=["User.Read.All", "GroupMember.Read.All", "Sites.Selected"]
    )
    selected = Graph(app_token(sandbox))

    assert denied.status_code == 403
    assert error_code(denied) == "accessDenied"
    assert search.status_code == 403  # /sites?search does not support Sites.Selected
    assert granted.status_code == 201
    assert granted.json()["roles"] == ["read"]
    assert bad.status_code == 400
    assert [g["roles"] for g in listed] == [["read"]]
    assert len(selected.ok("GET", f"sites/{projects['id']}/drives")["value"]) == 2
    assert selected.get(f"sites/{finance['id']}/drives").status_code == 403
    libraries = selected.ok("GET", f"sites/{projects['id']}/drives")["value"]
    assert selected.ok("GET", f"drives/{libraries[0]['id']}/root/delta")["value"]
    upload = selected.post(f"drives/{libraries[0]['id']}/items/root:/x.txt:/createUploadSession")
    assert upload.status_code == 403  # a read grant does not write


def test_site_requests_are_throttled_with_retry_after(sandbox, app):
    Fault.objects.create(path_contains="/sites/getAllSites", status=429, retry_after=3)
    Fault.objects.create(path_contains="/drives", status=503, retry_after=2)

    throttled = app.get("sites/getAllSites")
    unavailable = app.get("sites/getAllSites")
    projects = next(s for s in _all(app, "sites?search=Projects"))
    busy = app.get(f"sites/{projects['id']}/drives")

    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "3"
    assert unavailable.status_code == 200
    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == "2"


def test_a_visitor_reads_a_library_but_may_not_write_in_it(sandbox, app):
    projects = next(s for s in _all(app, "sites?search=Projects"))
    library = next(
        d
        for d in app.ok("GET", f"sites/{projects['id']}/drives")["value"]
        if d["name"] == "Documents"
    )
    grace = Graph(user_token(sandbox, "grace"))
    upload = grace.post(f"drives/{library['id']}/root:/x.txt:/createUploadSession")

    assert grace.get(f"drives/{library['id']}/root/children").status_code == 200
    assert upload.status_code == 403
    assert error_code(upload) == "accessDenied"
    assert (
        Graph(user_token(sandbox, "frank")).get(f"drives/{library['id']}/root").status_code == 403
    )
