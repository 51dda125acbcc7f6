"""Directory reads through Graph: /me, /users, /organization, /groups and relations."""

from __future__ import annotations

from tests.sandbox.graph import Graph, app_token, error_code, user_token


def test_me_is_the_signed_in_user(sandbox):
    graph = Graph(user_token(sandbox, "alice"))

    me = graph.ok("GET", "me")

    assert me["id"] == str(sandbox.user("alice").id)
    assert me["userPrincipalName"] == "alice@contoso.example"
    assert me["displayName"] == "Alice Kim"
    assert set(graph.ok("GET", "me?$select=id")) == {"@odata.context", "id"}


def test_organization_is_the_callers_tenant(sandbox):
    graph = Graph(user_token(sandbox, "alice"))

    [org] = graph.ok("GET", "organization?$select=id,displayName")["value"]

    assert org["id"] == sandbox.tenant_id
    assert org["displayName"] == "Contoso (sandbox)"


def test_app_only_lists_users_of_its_own_tenant_only(sandbox):
    graph = Graph(app_token(sandbox))

    users, _ = graph.all("users?$top=5")

    upns = {u["userPrincipalName"] for u in users}
    assert "alice@contoso.example" in upns
    assert not any(upn.endswith("@fabrikam.example") for upn in upns)
    assert graph.get("users/mallory@fabrikam.example").status_code == 404
    assert graph.ok("GET", "users/alice@contoso.example")["id"] == str(sandbox.user("alice").id)


def test_users_filter_and_paging(sandbox):
    graph = Graph(app_token(sandbox))

    page = graph.ok("GET", "users?$top=3&$orderby=displayName")
    found = graph.ok("GET", "users?$filter=startswith(displayName,'Bob')")["value"]

    assert len(page["value"]) == 3
    assert page["@odata.nextLink"].startswith("https://graph.microsoft.com/v1.0/users?")
    assert [u["userPrincipalName"] for u in found] == ["bob@contoso.example"]


def test_app_only_me_is_a_bad_request(sandbox):
    response = Graph(app_token(sandbox)).get("me")

    assert response.status_code == 400
    assert "delegated" in response.json()["error"]["message"]


def test_groups_members_owners_and_transitive_member_of(sandbox):
    graph = Graph(user_token(sandbox, "alice"))

    groups = graph.ok("GET", "groups?$filter=displayName eq 'Finance'")["value"]
    [finance] = groups
    members = graph.ok("GET", f"groups/{finance['id']}/members")["value"]
    owners = graph.ok("GET", f"groups/{finance['id']}/owners")["value"]
    mine = graph.ok("GET", "me/transitiveMemberOf")["value"]

    assert {m["userPrincipalName"] for m in members} == {
        "alice@contoso.example", "bob@contoso.example", "frank@contoso.example",
    }  # fmt: skip
    assert [o["userPrincipalName"] for o in owners] == ["bob@contoso.example"]
    assert {g["displayName"] for g in mine} == {"Finance", "All Staff"}
    assert all(g["@odata.type"] == "#microsoft.graph.group" for g in mine)
    unified = graph.ok("GET", "groups?$filter=groupTypes/any(c:c eq 'Unified')")["value"]
    assert "IT Helpdesk" not in {g["displayName"] for g in unified}


def test_owned_objects(sandbox):
    owned = Graph(user_token(sandbox, "bob")).ok("GET", "me/ownedObjects")["value"]

    assert [g["displayName"] for g in owned] == ["Finance"]


def test_unknown_group_and_user(sandbox):
    graph = Graph(app_token(sandbox))

    assert (
        error_code(graph.get("groups/00000000-0000-0000-0000-000000000000"))
        == "Request_ResourceNotFound"
    )
    assert error_code(graph.get("users/nobody@contoso.example")) == "Request_ResourceNotFound"
