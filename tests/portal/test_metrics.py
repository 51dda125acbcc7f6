"""GET /metrics: Prometheus text, only for allowed networks or the bearer token."""

from __future__ import annotations

import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from restore.models import RestoreJob


def samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


@pytest.mark.django_db
def test_metrics_from_localhost_hold_every_family(client):
    client.get("/livez")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    found = samples(response.content)
    names = {name for name, _labels in found}
    for expected in (
        "lifeboat_http_request_duration_seconds_bucket",
        "lifeboat_restore_jobs",
        "lifeboat_restore_items_total",
        "lifeboat_backup_objects_never_backed_up",
        "lifeboat_backup_runs_failed_total",
        "lifeboat_backup_runs_waiting_for_sign_in",
        "lifeboat_sign_ins_pending",
        "lifeboat_sign_in_poller_lag_seconds",
        "lifeboat_workers_alive",
        "lifeboat_celery_queue_length",
    ):
        assert expected in names, expected
    assert found[("lifeboat_restore_jobs", (("status", "queued"),))] == (
        RestoreJob.objects.filter(status="queued").count()
    )
    livez = [
        value
        for (name, labels), value in found.items()
        if name == "lifeboat_http_request_duration_seconds_count" and ("view", "livez") in labels
    ]
    assert livez
    assert livez[0] >= 1
    assert ("lifeboat_celery_queue_length", (("queue", "celery"),)) in found
    # HELP lines describe the process-side counters even before anything was counted.
    text = response.content.decode()
    assert re.search(r"^# HELP lifeboat_microsoft_requests_total ", text, re.M)
    assert re.search(r"^# HELP lifeboat_token_refresh_failures_total ", text, re.M)


@pytest.mark.django_db
def test_metrics_are_hidden_from_other_networks_without_the_token(client, settings):
    settings.METRICS_BEARER_TOKEN = "m" * 40
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics", **outside).status_code == 404
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer " + "x" * 40, **outside)
    assert wrong.status_code == 404
    right = client.get("/metrics", HTTP_AUTHORIZATION="Bearer " + "m" * 40, **outside)
    assert right.status_code == 200
    assert b"lifeboat_restore_jobs" in right.content


@pytest.mark.django_db
def test_configured_networks_may_scrape(client, settings):
    import ipaddress

    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics").status_code == 404  # 127.0.0.1 is no longer listed


@pytest.mark.django_db
def test_microsoft_requests_are_counted_by_host_and_status(client, sandbox):
    from portal.microsoft import http_session

    http_session().get(
        f"https://login.microsoftonline.com/{sandbox.tenant_id}/v2.0/.well-known/openid-configuration"
    )
    found = samples(client.get("/metrics").content)
    key = (
        "lifeboat_microsoft_requests_total",
        (("host", "login.microsoftonline.com"), ("status", "200")),
    )
    assert found.get(key, 0) >= 1


def test_the_grafana_dashboard_uses_only_metrics_the_portal_exports():
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    dashboard = json.loads((root / "docs" / "grafana-dashboard.json").read_text())
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"lifeboat_[a-z_]+", target["expr"])
    }
    # portal serves the metrics; restore and authflow define their own scrape-time gauges.
    source = "".join(
        (root / app / "metrics.py").read_text() for app in ("portal", "restore", "authflow")
    )
    exported = set(re.findall(r'"(lifeboat_[a-z_]+)"', source))
    suffixes = ("_bucket", "_count", "_sum", "_total")
    for name in used:
        base = next((name.removesuffix(s) for s in suffixes if name.endswith(s)), name)
        assert name in exported or base in exported, name
