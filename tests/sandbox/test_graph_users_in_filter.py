"""`id in (...)`: the one query the periodic account check sends, as Graph answers it."""

from __future__ import annotations

import uuid

from sandbox.models import DirectoryUser
from tests.sandbox.graph import Graph, app_token


def test_users_in_filter_returns_the_listed_accounts_with_their_sign_in_state(sandbox):
    graph = Graph(app_token(sandbox))
    alice, bob = sandbox.user("alice"), sandbox.user("bob")
    gone = uuid.uuid4()

    answer = graph.ok(
        "GET",
        f"users?$filter=id in ('{alice.id}', '{bob.id}', '{gone}')"
        "&$select=id,accountEnabled,signInSessionsValidFromDateTime",
    )

    rows = {row["id"]: row for row in answer["value"]}
    assert set(rows) == {str(alice.id), str(bob.id)}  # a deleted id is simply absent
    assert set(rows[str(alice.id)]) == {"id", "accountEnabled", "signInSessionsValidFromDateTime"}
    assert rows[str(alice.id)]["accountEnabled"] is True
    assert rows[str(alice.id)]["signInSessionsValidFromDateTime"].endswith("Z")


def test_users_in_filter_refuses_more_than_15_values_as_graph_does(sandbox):
    graph = Graph(app_token(sandbox))
    ids = ",".join(f"'{uuid.uuid4()}'" for _ in range(16))

    answer = graph.get(f"users?$filter=id in ({ids})&$select=id")

    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "Request_UnsupportedQuery"
    assert error["message"] == (
        "Too many child clauses specified in search filter expression containing 'OR' "
        "operators: 16. Max allowed: 15."
    )
    fifteen = ",".join(f"'{u.id}'" for u in DirectoryUser.objects.all()[:15])
    assert graph.get(f"users?$filter=id in ({fifteen})&$select=id").status_code == 200
