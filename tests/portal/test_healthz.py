"""/livez, /readyz and /healthz: named checks, and workers known by their own heartbeats."""

from __future__ import annotations

import pytest

from portal import health
from portal.models import WorkerHeartbeat
from tests.conftest import WorkerProcess, wait_for


def test_livez_asks_nothing_else(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/livez")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_reports_database_and_broker_without_workers(client):
    WorkerHeartbeat.objects.all().delete()
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["status"] == "ok"
    assert body["broker"]["status"] == "ok"
    assert "workers" not in body
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db
def test_healthz_is_503_when_no_worker_is_alive(client, settings):
    WorkerHeartbeat.objects.all().delete()
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is True
    assert body["workers"]["status"] == "down"
    assert body["workers"]["workers"] == []


@pytest.mark.django_db
def test_healthz_and_readyz_are_503_when_the_broker_is_unreachable(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    for path in ("/healthz", "/readyz"):
        response = client.get(path)
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "down"
        assert body["database"]["ok"] is True
        assert body["broker"]["status"] == "down"
        assert body["broker"]["error"] == "OperationalError"


@pytest.mark.django_db
def test_healthz_does_not_leak_the_broker_address_or_password(client, settings):
    settings.CELERY_BROKER_URL = "redis://:hunter2-secret@127.0.0.1:1/0"
    response = client.get("/healthz")
    assert b"hunter2" not in response.content
    assert b"127.0.0.1" not in response.content


def test_a_new_check_is_one_line_and_degraded_keeps_200(client, db, monkeypatch, celery_worker):
    monkeypatch.setattr(
        health, "CHECKS", [*health.CHECKS, ("blobs", lambda: health.Check("degraded", "slow"))]
    )
    wait_for(lambda: health.live_workers(), message="the session's worker sent no heartbeat")
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "degraded"
    assert response.json()["blobs"]["detail"] == "slow"


@pytest.mark.django_db(transaction=True)
def test_each_worker_is_listed_by_its_own_heartbeat_and_dropped_when_it_stops(
    client, settings, subprocess_env, tmp_path, celery_worker
):
    """Two more real workers beat every second; one killed (SIGKILL) disappears after the
    stale window, one stopped warmly disappears at once, the session's worker stays."""
    settings.WORKER_STALE_SECONDS = 4
    env = {**subprocess_env, "WORKER_HEARTBEAT_SECONDS": "1", "WORKER_STALE_SECONDS": "4"}
    doomed = WorkerProcess(env, tmp_path / "doomed.log", name="doomed")
    warm = WorkerProcess(env, tmp_path / "warm.log", name="warm")
    doomed.start()
    warm.start()
    try:

        def listed() -> set[str]:
            body = client.get("/healthz").json()
            return {w["hostname"].split("@")[0] for w in body["workers"]["workers"]}

        wait_for(lambda: {"doomed", "warm"} <= listed(), message="new workers not listed")
        first = client.get("/healthz").json()["workers"]["workers"]
        assert all(w["seconds_ago"] < 4 for w in first)
        assert all("last_heartbeat" in w for w in first)

        warm.stop()
        assert "warm" not in listed()  # gone at once: it removed its own heartbeat

        doomed.kill()
        assert "doomed" in listed()  # a killed worker can't say so; it is dropped ...
        wait_for(lambda: "doomed" not in listed(), timeout=15, message="dead worker listed")
        assert not WorkerHeartbeat.objects.filter(hostname__startswith="doomed@").exists()
        wait_for(lambda: client.get("/healthz").status_code == 200)  # the session's beats on
    finally:
        doomed.kill()
        warm.stop()


@pytest.mark.django_db(transaction=True)
def test_the_admin_console_lists_live_workers_and_is_admin_only(client, celery_worker):
    from authflow.models import Role, User

    wait_for(lambda: health.live_workers(), message="the session's worker sent no heartbeat")
    end_user = User.objects.create(username="eve", upn="eve@contoso.example")
    client.force_login(end_user)
    assert client.get("/admin/workers").status_code == 403
    admin = User.objects.create(username="ivan", upn="ivan@contoso.example", role=Role.ADMIN)
    client.force_login(admin)
    page = client.get("/admin/workers").content.decode()
    assert celery_worker.name in page
    assert "Last heartbeat" in page
    assert "database" in page
