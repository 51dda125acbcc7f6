from __future__ import annotations

import os
import re
import socket

import pytest

from portal.tasks import heartbeat
from tests.conftest import wait_for


@pytest.mark.django_db(transaction=True)
def test_a_task_round_trips_through_redis_and_a_real_worker(celery_worker, client):
    result = heartbeat.delay()

    wait_for(
        lambda: re.search(
            rf"Task portal\.tasks\.heartbeat\[{result.id}\] succeeded", celery_worker.log_text()
        ),
        message="The worker never ran the task",
    )
    # The worker that ran it is listed by /healthz, with its last heartbeat.
    workers = client.get("/healthz").json()["workers"]["workers"]
    hostname = f"test-worker-{os.getpid()}@{socket.gethostname()}"
    assert hostname in [w["hostname"] for w in workers]
