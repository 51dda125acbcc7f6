"""Restore jobs wait out faults instead of failing items: real faults, real processes.

- Graph: connection resets after the sandbox did the request (the answer is lost) and
  503 bursts, from the sandbox's fault table.
- PostgreSQL: the worker's connections terminated mid-job (pg_terminate_backend).
- Redis: a Redis server of the test's own, on its own port, stopped and started again
  mid-job, under a worker that uses it as broker and for its request slots.

Every item must end restored exactly once (read back from the sandbox), none failed.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from portal.celery import app
from restore.jobs import lifecycle as jobs
from restore.jobs import runner
from restore.jobs.signals import job_queued
from restore.models import Folder, RestoreJob, RestoreJobItem
from restore.scope import Scope
from tests.conftest import SUBPROCESS_APPLICATION_NAME, WorkerProcess, free_port, wait_for
from tests.restore.jobs_support import add_messages, back_up_mailbox
from tests.restore.test_jobs_worker import assert_each_item_exactly_once, markers

pytestmark = pytest.mark.django_db(transaction=True)


def inbox_job(alice, count: int) -> RestoreJob:
    """`count` extra messages in Alice's Inbox, backed up, restored into the original
    folder with "keep both": a message sent twice would show as a second copy."""
    add_messages("alice", count)
    point = back_up_mailbox("alice")
    inbox = Folder.objects.get(object=point.object, path="Inbox")
    return jobs.create_job(
        Scope.for_user(alice), point, [], [inbox.pk], "original", "", "keep-both"
    )


def log_text(job: RestoreJob) -> str:
    return "\n".join(job.log.values_list("message", flat=True))


def assert_none_failed(job: RestoreJob) -> None:
    assert_each_item_exactly_once(job)
    assert job.items_failed == 0
    assert not job.job_items.filter(status=RestoreJobItem.Status.FAILED).exists()


def test_connection_resets_and_503_bursts_are_waited_out(sandbox, alice, celery_worker):
    from sandbox.models import Fault

    # 503s from the start; resets (the message created, the answer lost) once it runs.
    burst = sandbox.fault("/messages", 503, method="POST", retry_after=1, remaining=12)
    job = inbox_job(alice, 60)
    wait_for(lambda: RestoreJob.objects.get(pk=job.pk).items_done >= 5, timeout=60)
    resets = sandbox.fault("/messages", method="POST", action="reset", remaining=6)

    wait_for(lambda: RestoreJob.objects.get(pk=job.pk).is_finished, timeout=180, interval=0.2)
    assert_none_failed(job)
    assert Fault.objects.get(pk=burst.pk).remaining == 0
    assert Fault.objects.get(pk=resets.pk).remaining == 0
    assert "Waiting out a fault" in log_text(job)


def test_the_workers_database_connections_terminated_mid_job(sandbox, alice, celery_worker):
    job = inbox_job(alice, 80)
    wait_for(lambda: RestoreJob.objects.get(pk=job.pk).items_done >= 5, timeout=60)
    terminated = 0
    for _ in range(4):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = %s",
                [SUBPROCESS_APPLICATION_NAME],
            )
            terminated += cursor.fetchone()[0]
        time.sleep(0.4)
    assert terminated > 0  # the worker really lost connections mid-job

    wait_for(lambda: RestoreJob.objects.get(pk=job.pk).is_finished, timeout=180, interval=0.2)
    assert_none_failed(job)


def test_permanent_faults_fail_only_their_items(sandbox, alice, settings):
    """A 400 cannot be fixed by retrying: those items fail at once, saying why; the rest
    are restored. (In this process: the classification, not the worker, is under test.)"""
    sandbox.fault("/messages", 400, method="POST", remaining=2)
    sandbox.fault("/messages", 503, method="POST", retry_after=0, remaining=3)
    job = inbox_job(alice, 10)
    runner.run(job.pk)

    job.refresh_from_db()
    assert job.status == RestoreJob.Status.PARTIAL
    assert job.items_failed == 2
    assert job.items_done == job.items_total - 2
    failed = job.job_items.filter(status=RestoreJobItem.Status.FAILED)
    assert all("A retry cannot fix this" in ji.error for ji in failed)
    assert sum(markers(job).values()) == job.items_total - 2
    assert max(markers(job).values()) == 1


def test_an_item_fails_only_after_the_retry_budget(sandbox, alice, settings):
    settings.RESTORE_RETRY_BUDGET_SECONDS = 2
    sandbox.fault("/messages", 503, method="POST", retry_after=0, remaining=10_000)
    job = inbox_job(alice, 0)
    started = time.monotonic()
    runner.run(job.pk)
    waited = time.monotonic() - started

    job.refresh_from_db()
    assert job.status == RestoreJob.Status.FAILED
    assert waited >= 2  # given up only once the budget was spent
    errors = set(job.job_items.values_list("error", flat=True))
    assert errors == {
        "Still failing after 2 seconds of retries: Microsoft 365 answered 503 serviceNotAvailable."
    }
    assert "Still failing after 2 seconds of retries" in log_text(job)


# --- Redis stopped and started mid-job ---------------------------------------------------


class RedisServer:
    """A redis-server of this test's own, without persistence: a restart loses every
    queued and unacknowledged message, as a crashed Redis without AOF does."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        import redis

        client = redis.Redis.from_url(self.url)
        wait_for(lambda: _pings(client), timeout=10, message="redis-server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def _pings(client) -> bool:
    import redis

    try:
        return bool(client.ping())
    except redis.exceptions.ConnectionError:
        return False


class PrivateWorker(WorkerProcess):
    """A worker on the private Redis: ready when its log says so (control.ping would ask
    the session's broker)."""

    def wait_until_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"The Celery worker exited; see {self.log_path}")
            if " ready." in self.log_text():
                return
            time.sleep(0.1)
        raise RuntimeError(f"The Celery worker did not come up; see {self.log_path}")


@pytest.fixture
def private_redis(tmp_path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_worker(private_redis, subprocess_env, tmp_path) -> Iterator[PrivateWorker]:
    env = {**subprocess_env, "REDIS_URL": private_redis.url, "CELERY_BROKER_URL": ""}
    env.pop("CELERY_BROKER_URL")
    worker = PrivateWorker(env, tmp_path / "private-worker.log")
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def no_enqueue() -> Iterator[None]:
    """Jobs created here are not queued on the session's broker (where another worker
    might take them): the test queues them on its own Redis."""
    from restore.jobs import tasks

    job_queued.disconnect(dispatch_uid="restore-run-job")
    yield
    job_queued.connect(tasks.queue_job, dispatch_uid="restore-run-job")


def test_the_worker_survives_redis_restarting_mid_job(
    sandbox, alice, private_redis, private_worker, no_enqueue
):
    job = inbox_job(alice, 80)
    with app.connection_for_write(private_redis.url) as broker:
        app.send_task("restore.tasks.run_restore_job", args=[str(job.pk)], connection=broker)
    wait_for(lambda: RestoreJob.objects.get(pk=job.pk).items_done >= 5, timeout=60)

    private_redis.stop()
    time.sleep(3)  # items wait for their request slots, the consumer for its broker
    private_redis.start()

    wait_for(lambda: RestoreJob.objects.get(pk=job.pk).is_finished, timeout=180, interval=0.2)
    assert private_worker.process is not None
    assert private_worker.process.poll() is None, private_worker.log_text()[-3000:]
    assert_none_failed(job)
    # The worker is back on its broker: it takes new work.
    with app.connection_for_write(private_redis.url) as broker:
        app.send_task("portal.tasks.heartbeat", connection=broker)
    wait_for(
        lambda: private_worker.log_text().count("portal.tasks.heartbeat") >= 1,
        timeout=60,
        message="the worker did not reconnect to Redis",
    )
