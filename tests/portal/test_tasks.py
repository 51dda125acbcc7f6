from __future__ import annotations

import pytest

from portal.models import WorkerHeartbeat
from portal.tasks import heartbeat
from tests.conftest import wait_for


@pytest.mark.django_db(transaction=True)
def test_a_task_round_trips_through_redis_and_a_real_worker(celery_worker, client):
    assert not WorkerHeartbeat.objects.exists()

    heartbeat.delay()

    beat = wait_for(
        lambda: WorkerHeartbeat.objects.filter(hostname__startswith="test-worker-").first(),
        message="The worker never recorded a heartbeat",
    )
    # /healthz shows the worker that answered.
    workers = client.get("/healthz").json()["workers"]
    assert [w["hostname"] for w in workers] == [beat.hostname]
