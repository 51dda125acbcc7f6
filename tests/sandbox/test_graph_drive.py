"""OneDrive through Graph: children, paths, delta, downloads, uploads, versions."""

from __future__ import annotations

import pytest
import requests

from restore.quickxor import quick_xor_hash
from tests.sandbox.graph import Graph, app_token, error_code, user_token

FRAGMENT = 320 * 1024


@pytest.fixture
def graph(sandbox) -> Graph:
    return Graph(user_token(sandbox, "alice"))


def test_quick_xor_hash_known_vectors():
    # Vectors from Microsoft's reference implementation (via the C libqxh).
    assert quick_xor_hash(b"hello world") == "aCgDG9jwBhDc4Q1yawMZAAAAAAA="
    assert quick_xor_hash(bytes(range(256)) * 4) == "h7xr2dbCayZCQYR9KKhlwDuT4UI="
    assert quick_xor_hash(b"a" * 327681) == "YQAAAAAAAAAAAAAAAQAFAAAAAAA="


def test_drive_root_children_and_path_addressing(graph):
    drive = graph.ok("GET", "me/drive")
    root = graph.ok("GET", "me/drive/root")
    children = graph.ok("GET", "me/drive/root/children")["value"]
    documents = next(c for c in children if c["name"] == "Documents")
    by_path = graph.ok("GET", "me/drive/root:/Documents")
    inside = graph.ok("GET", f"me/drive/items/{documents['id']}/children")["value"]

    assert drive["driveType"] == "business"
    assert drive["owner"]["user"]["displayName"] == "Alice Kim"
    assert "root" in root
    assert by_path["id"] == documents["id"]
    assert documents["folder"]["childCount"] == len(inside) > 0
    assert all(
        i["parentReference"]["path"] == f"/drives/{drive['id']}/root:/Documents" for i in inside
    )
    assert graph.get("me/drive/root:/No/Such/File.txt").status_code == 404


def test_download_redirects_to_a_url_that_needs_no_token(graph):
    content = b"quarterly numbers\n"
    uploaded = graph.ok("PUT", "me/drive/root:/Reports/q3.txt:/content", data=content)

    redirect = graph.get(f"me/drive/items/{uploaded['id']}/content")
    item = graph.ok("GET", f"me/drive/items/{uploaded['id']}")
    direct = requests.get(redirect.headers["Location"], timeout=10)
    via_url = requests.get(item["@microsoft.graph.downloadUrl"], timeout=10)

    assert redirect.status_code == 302
    assert direct.status_code == 200
    assert direct.content == via_url.content == content
    assert item["file"]["hashes"]["quickXorHash"] == quick_xor_hash(content)
    assert item["size"] == len(content)
    forged = redirect.headers["Location"][:-4] + "AAAA"
    assert requests.get(forged, timeout=10).status_code == 401


def test_simple_upload_conflict_behaviours(graph):
    first = graph.put("me/drive/root:/Notes/todo.txt:/content", data=b"one")
    replaced = graph.put("me/drive/root:/Notes/todo.txt:/content", data=b"two")
    failed = graph.put(
        "me/drive/root:/Notes/todo.txt:/content?@microsoft.graph.conflictBehavior=fail", data=b"x"
    )
    renamed = graph.put(
        "me/drive/root:/Notes/todo.txt:/content?@microsoft.graph.conflictBehavior=rename", data=b"3"
    )
    too_big = graph.put("me/drive/root:/Notes/big.bin:/content", data=b"x" * (4 * 1024 * 1024 + 1))

    assert first.status_code == 201
    assert replaced.status_code == 200
    assert replaced.json()["id"] == first.json()["id"]
    assert failed.status_code == 409
    assert error_code(failed) == "nameAlreadyExists"
    assert renamed.status_code == 201
    assert renamed.json()["name"] == "todo 1.txt"
    assert too_big.status_code == 413
    versions = graph.ok("GET", f"me/drive/items/{first.json()['id']}/versions")["value"]
    assert [v["id"] for v in versions] == ["2.0", "1.0"]


def test_versions_and_their_content(graph):
    item = graph.ok("PUT", "me/drive/root:/v.txt:/content", data=b"first")
    graph.ok("PUT", f"me/drive/items/{item['id']}/content", data=b"second")

    versions = graph.ok("GET", f"me/drive/items/{item['id']}/versions")["value"]
    old = graph.get(f"me/drive/items/{item['id']}/versions/1.0/content")
    restore = graph.post(f"me/drive/items/{item['id']}/versions/1.0/restoreVersion")
    current = requests.get(
        graph.get(f"me/drive/items/{item['id']}/content").headers["Location"], timeout=10
    )

    assert [(v["id"], v["size"]) for v in versions] == [("2.0", 6), ("1.0", 5)]
    assert old.status_code == 302
    assert requests.get(old.headers["Location"], timeout=10).content == b"first"
    assert restore.status_code == 204
    assert current.content == b"first"


def test_seeded_files_have_several_versions(graph):
    items, _ = graph.all("me/drive/root/delta")
    files = [i for i in items if "file" in i]
    counts = [len(graph.ok("GET", f"me/drive/items/{f['id']}/versions")["value"]) for f in files]

    assert files
    assert max(counts) > 1


def test_create_folder_and_delete(graph):
    created = graph.post("me/drive/root/children", json={"name": "Restores", "folder": {}})
    duplicate = graph.post("me/drive/root/children", json={"name": "restores", "folder": {}})
    renamed = graph.post(
        "me/drive/root/children",
        json={"name": "Restores", "folder": {}, "@microsoft.graph.conflictBehavior": "rename"},
    )
    deleted = graph.delete(f"me/drive/items/{created.json()['id']}")

    assert created.status_code == 201
    assert created.json()["folder"]["childCount"] == 0
    assert duplicate.status_code == 409
    assert renamed.json()["name"] == "Restores 1"
    assert deleted.status_code == 204
    assert graph.get(f"me/drive/items/{created.json()['id']}").status_code == 404


def test_delta_sees_added_changed_and_deleted_items(graph):
    initial, last = graph.all("me/drive/root/delta?$top=7")
    assert "@odata.deltaLink" in last
    assert initial[0]["name"] == "root"
    positions = {i["id"]: n for n, i in enumerate(initial)}
    for item in initial[1:]:
        assert positions[item["parentReference"]["id"]] < positions[item["id"]]  # parents first
    victim = next(i for i in initial if "file" in i)

    added = graph.ok("PUT", "me/drive/root:/New/fresh.txt:/content", data=b"fresh")
    changed = graph.ok("PUT", "me/drive/root:/Notes.txt:/content", data=b"v1")
    delta_after_create, last = graph.all(last["@odata.deltaLink"])
    graph.ok("PUT", f"me/drive/items/{changed['id']}/content", data=b"v2")
    assert graph.delete(f"me/drive/items/{victim['id']}").status_code == 204
    changes, last = graph.all(last["@odata.deltaLink"])

    assert {added["id"], changed["id"]} <= {i["id"] for i in delta_after_create}
    by_id = {i["id"]: i for i in changes}
    assert set(by_id) == {changed["id"], victim["id"]}
    assert by_id[changed["id"]]["size"] == 2
    assert by_id[victim["id"]]["deleted"] == {"state": "deleted"}
    assert graph.all(last["@odata.deltaLink"])[0] == []


def upload_session(graph: Graph, path: str, body: dict | None = None) -> str:
    session = graph.ok("POST", f"me/drive/root:/{path}:/createUploadSession", json=body or {})
    assert session["uploadUrl"]
    return session["uploadUrl"]


def put_range(url: str, data: bytes, start: int, total: int) -> requests.Response:
    end = start + len(data) - 1
    # No Authorization header: the upload URL is the capability.
    return requests.put(
        url, data=data, headers={"Content-Range": f"bytes {start}-{end}/{total}"}, timeout=30
    )


def test_upload_session_in_fragments(graph):
    content = bytes(range(256)) * ((2 * FRAGMENT + 1000) // 256 + 1)
    total = len(content)
    url = upload_session(graph, "Big/archive.bin")

    first = put_range(url, content[:FRAGMENT], 0, total)
    overlap = put_range(url, content[:FRAGMENT], 0, total)
    wrong_size = put_range(url, content[FRAGMENT : 2 * FRAGMENT - 1], FRAGMENT, total)
    status = requests.get(url, timeout=10).json()
    second = put_range(url, content[FRAGMENT : 2 * FRAGMENT], FRAGMENT, total)
    last = put_range(url, content[2 * FRAGMENT :], 2 * FRAGMENT, total)

    assert first.status_code == 202
    assert first.json()["nextExpectedRanges"] == [f"{FRAGMENT}-"]
    assert overlap.status_code == 416
    assert wrong_size.status_code == 400  # not a multiple of 320 KiB and not the last
    assert status["nextExpectedRanges"] == [f"{FRAGMENT}-"]
    assert second.status_code == 202
    assert last.status_code == 201, last.text
    item = last.json()
    assert item["name"] == "archive.bin"
    assert item["size"] == total
    assert item["file"]["hashes"]["quickXorHash"] == quick_xor_hash(content)
    download = graph.get(f"me/drive/items/{item['id']}/content")
    assert requests.get(download.headers["Location"], timeout=30).content == content
    assert requests.get(url, timeout=10).status_code == 404  # the session is over


def test_upload_session_conflict_and_cancel(graph):
    graph.ok("PUT", "me/drive/root:/taken.txt:/content", data=b"here")

    conflict = graph.post(
        "me/drive/root:/taken.txt:/createUploadSession",
        json={"item": {"@microsoft.graph.conflictBehavior": "fail"}},
    )
    url = upload_session(graph, "cancel-me.bin")
    cancelled = requests.delete(url, timeout=10)

    assert conflict.status_code == 409
    assert error_code(conflict) == "nameAlreadyExists"
    assert cancelled.status_code == 204
    assert put_range(url, b"x", 0, 1).status_code == 404


def test_group_drive_needs_membership_and_an_all_scope(sandbox):
    app = Graph(app_token(sandbox))
    [finance] = app.ok("GET", "groups?$filter=displayName eq 'Finance'")["value"]
    [dev] = app.ok("GET", "groups?$filter=displayName eq 'Dev/Team/1'")["value"]
    # Entra puts every consented scope in a token: get the narrow one before consenting more
    # (the seeded tenant consents Files.ReadWrite.All for everyone; withdraw that first).
    from sandbox.models import ServicePrincipal

    for sp in ServicePrincipal.objects.all():
        sp.admin_consented_scopes = [
            s
            for s in sp.admin_consented_scopes
            if not s.endswith(".All") or s.startswith("GroupMember")
        ]
        sp.save(update_fields=["admin_consented_scopes"])
    alice_own = Graph(user_token(sandbox, "alice", ["Files.ReadWrite"]))
    alice_all = Graph(user_token(sandbox, "alice", ["Files.ReadWrite.All"]))

    assert (
        app.ok("GET", f"groups/{finance['id']}/drive")["owner"]["group"]["displayName"] == "Finance"
    )
    assert alice_all.get(f"groups/{finance['id']}/drive/root/children").status_code == 200
    assert error_code(alice_all.get(f"groups/{dev['id']}/drive")) == "accessDenied"
    assert error_code(alice_own.get(f"groups/{finance['id']}/drive")) == "accessDenied"
    assert error_code(alice_own.get("users/bob@contoso.example/drive")) == "accessDenied"
