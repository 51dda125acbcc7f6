"""JSON batching and Outlook's throttling (per app and mailbox)."""

from __future__ import annotations

import json
import select
import socket
from urllib.parse import urlsplit

import pytest

from tests.conftest import wait_for
from tests.sandbox.graph import Graph, app_token, error_code

ALICE = "users/alice@contoso.example"


@pytest.fixture
def graph(sandbox) -> Graph:
    return Graph(app_token(sandbox))


def test_batch_runs_relative_requests_and_reports_each_status(graph):
    body = {
        "requests": [
            {"id": "1", "method": "GET", "url": f"/{ALICE}/mailFolders/inbox"},
            {"id": "2", "method": "GET", "url": f"/{ALICE}/messages/AAMkADnope="},
            {"id": "3", "method": "POST", "url": f"/{ALICE}/mailFolders",
             "headers": {"Content-Type": "application/json"}, "body": {"displayName": "Batch"}},
            {"id": "4", "method": "GET", "url": "/users?$select=id&$top=2"},
        ]
    }  # fmt: skip
    response = graph.post("$batch", json=body)

    assert response.status_code == 200
    by_id = {r["id"]: r for r in response.json()["responses"]}
    assert set(by_id) == {"1", "2", "3", "4"}
    assert by_id["1"]["status"] == 200
    assert by_id["1"]["body"]["displayName"] == "Inbox"
    assert by_id["2"]["status"] == 404
    assert by_id["2"]["body"]["error"]["code"] == "ErrorItemNotFound"
    assert by_id["3"]["status"] == 201
    assert len(by_id["4"]["body"]["value"]) == 2


def test_batch_depends_on_and_failed_dependency(graph):
    body = {
        "requests": [
            {"id": "a", "method": "GET", "url": f"/{ALICE}/messages/AAMkADnope="},
            {"id": "b", "method": "GET", "url": f"/{ALICE}/mailFolders/inbox", "dependsOn": ["a"]},
            {"id": "c", "method": "GET", "url": f"/{ALICE}/mailFolders/drafts"},
            {
                "id": "d",
                "method": "GET",
                "url": f"/{ALICE}/mailFolders/archive",
                "dependsOn": ["c"],
            },
        ]
    }
    by_id = {r["id"]: r for r in graph.ok("POST", "$batch", json=body)["responses"]}

    assert by_id["a"]["status"] == 404
    assert by_id["b"]["status"] == 424
    assert by_id["c"]["status"] == 200
    assert by_id["d"]["status"] == 200


def test_batch_limits(graph):
    too_many = {"requests": [{"id": str(i), "method": "GET", "url": "/users"} for i in range(21)]}
    unknown_dependency = {
        "requests": [{"id": "1", "method": "GET", "url": "/users", "dependsOn": ["9"]}]
    }
    duplicate = {"requests": [{"id": "1", "method": "GET", "url": "/users"}] * 2}

    assert graph.post("$batch", json=too_many).status_code == 400
    assert graph.post("$batch", json=unknown_dependency).status_code == 400
    assert graph.post("$batch", json=duplicate).status_code == 400


def test_each_batch_request_is_authorized_on_its_own(sandbox):
    from tests.sandbox.graph import user_token

    graph = Graph(user_token(sandbox, "alice"))
    body = {
        "requests": [
            {"id": "mine", "method": "GET", "url": "/me/mailFolders/inbox"},
            {"id": "bobs", "method": "GET", "url": "/users/bob@contoso.example/mailFolders/inbox"},
        ]
    }
    by_id = {r["id"]: r for r in graph.ok("POST", "$batch", json=body)["responses"]}

    assert by_id["mine"]["status"] == 200
    assert by_id["bobs"]["status"] == 403


def test_request_window_per_app_and_mailbox(sandbox, graph):
    sandbox.policy(mailbox_requests_per_window=3, mailbox_window_seconds=600)

    statuses = [graph.get(f"{ALICE}/mailFolders/inbox").status_code for _ in range(3)]
    throttled = graph.get(f"{ALICE}/mailFolders/inbox")
    other_mailbox = graph.get("users/bob@contoso.example/mailFolders/inbox")
    directory = graph.get("users")

    assert statuses == [200, 200, 200]
    assert throttled.status_code == 429
    assert error_code(throttled) == "ApplicationThrottled"
    assert 0 < int(throttled.headers["Retry-After"]) <= 600
    assert other_mailbox.status_code == 200
    assert directory.status_code == 200


def test_throttling_can_be_switched_off(sandbox, graph):
    sandbox.policy(mailbox_requests_per_window=1, throttling_enabled=False)

    assert [graph.get(f"{ALICE}/mailFolders/inbox").status_code for _ in range(3)] == [200] * 3


def test_inner_batch_requests_are_throttled_individually(sandbox, graph):
    sandbox.policy(mailbox_requests_per_window=2)
    body = {
        "requests": [
            {"id": str(i), "method": "GET", "url": f"/{ALICE}/mailFolders/inbox"} for i in range(4)
        ]
    }

    responses = graph.ok("POST", "$batch", json=body)["responses"]

    statuses = sorted(r["status"] for r in responses)
    assert statuses == [200, 200, 429, 429]
    throttled = next(r for r in responses if r["status"] == 429)
    assert int(throttled["headers"]["Retry-After"]) > 0
    assert throttled["body"]["error"]["code"] == "ApplicationThrottled"


def hold_request(sandbox, token: str, path: str) -> socket.socket:
    """Start a POST whose body never finishes: the server holds it in flight."""
    url = urlsplit(sandbox.graph_url)
    connection = socket.create_connection((url.hostname, url.port), timeout=10)
    head = (
        f"POST {url.path}/{path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n{"
    )
    connection.sendall(head.encode())
    return connection


class HeldRequests:
    """`count` requests kept in flight on one mailbox; one the server already answered
    (say a probe overlapped it and it got the 429) is started again."""

    def __init__(self, sandbox, graph: Graph, count: int) -> None:
        [message] = graph.ok("GET", f"{ALICE}/messages?$top=1&$select=id")["value"]
        self.start = lambda: hold_request(
            sandbox, graph.token, f"{ALICE}/messages/{message['id']}/attachments"
        )
        self.connections = [self.start() for _ in range(count)]

    def refresh(self) -> None:
        answered, _, _ = select.select(self.connections, [], [], 0)
        for connection in answered:
            connection.close()
            self.connections[self.connections.index(connection)] = self.start()

    def close(self) -> None:
        for connection in self.connections:
            connection.close()


def probe_until_throttled(graph: Graph, held: HeldRequests, message: str):
    def throttled():
        held.refresh()
        response = graph.get(f"{ALICE}/mailFolders/inbox")
        # A list, because a 429 Response is falsy (requests' Response.__bool__ is .ok).
        return [response] if response.status_code == 429 else []

    return wait_for(throttled, message=message)[0]


def test_a_fifth_concurrent_request_on_a_mailbox_is_throttled(sandbox, graph):
    held = HeldRequests(sandbox, graph, 4)
    try:
        throttled = probe_until_throttled(
            graph, held, "four requests in flight never made a fifth one wait"
        )
        assert error_code(throttled) == "ApplicationThrottled"
        assert "MailboxConcurrency" in throttled.json()["error"]["message"]
        assert int(throttled.headers["Retry-After"]) >= 1
        assert graph.get("users/bob@contoso.example/mailFolders/inbox").status_code == 200
    finally:
        held.close()
    wait_for(lambda: graph.get(f"{ALICE}/mailFolders/inbox").status_code == 200)


def test_concurrency_limit_comes_from_policy(sandbox, graph):
    sandbox.policy(mailbox_concurrency=1)
    held = HeldRequests(sandbox, graph, 1)
    try:
        probe_until_throttled(graph, held, "one request in flight didn't make a second wait")
    finally:
        held.close()
    wait_for(lambda: graph.get(f"{ALICE}/mailFolders/inbox").status_code == 200)
    assert json.loads(graph.get(f"{ALICE}/mailFolders/inbox").content)["displayName"] == "Inbox"
