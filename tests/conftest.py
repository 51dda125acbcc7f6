"""Shared fixtures: a real Celery worker process, the live server, a real browser.

The suite runs against real PostgreSQL and Redis (see [tool.pytest_env] in pyproject).
Microsoft is replaced by the sandbox tenant, which the live server serves over HTTP.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.core.servers.basehttp import WSGIRequestHandler
from django.db import connection

from tests import parallel, resets

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    if "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
        raise pytest.UsageError(
            "The tests run against PostgreSQL: set DATABASE_URL=postgres://... (make test does)."
        )
    resets.use_empty_tables_between_tests()


worker_redis = parallel.WorkerRedis()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config: pytest.Config, specs) -> None:
    """With `pytest -n N`: a Redis for each xdist worker (see tests/parallel.py)."""
    worker_redis.assign(specs)


def pytest_unconfigure(config: pytest.Config) -> None:
    worker_redis.stop()


def database_url_for(name: str) -> str:
    """A DATABASE_URL for another process that must see the test database."""
    db = connection.settings_dict
    auth = db["USER"] or ""
    if db["PASSWORD"]:
        auth += f":{db['PASSWORD']}"
    host = db["HOST"] or "127.0.0.1"
    port = db["PORT"] or 5432
    return f"postgres://{auth}@{host}:{port}/{name}"


SUBPROCESS_APPLICATION_NAME = "lifeboat-test-subprocess"

# The live server answers in several small writes; with Nagle's algorithm and delayed
# ACKs every request on a kept-alive connection (msal, requests sessions) waits ~40 ms.
WSGIRequestHandler.disable_nagle_algorithm = True


# --- No database transaction while waiting on Microsoft ---------------------------------


def open_transactions() -> list[object]:
    """The atomic blocks open on this thread's connection, leaving out the ones a test
    itself wraps around (pytest-django's non-transactional tests run inside TestCase
    atomics, marked `_from_testcase` by Django)."""
    from django.db import connections

    blocks: list[object] = []
    for alias in connections:
        if not connections.settings[alias]:
            continue
        conn = connections[alias]
        blocks += [a for a in conn.atomic_blocks if not getattr(a, "_from_testcase", False)]
    return blocks


@pytest.fixture(autouse=True)
def no_transaction_over_http(monkeypatch) -> Iterator[list[str]]:
    """Fail any test in which a request to Microsoft (or the sandbox standing in for it)
    goes out from a thread holding a database transaction: every HTTP request of the
    product passes through portal.microsoft.MicrosoftSession.send. Recorded, then failed
    at teardown, so code that catches exceptions cannot swallow the failure."""
    from portal.microsoft import MicrosoftSession

    violations: list[str] = []
    send = MicrosoftSession.send

    def checked_send(self, request, **kwargs):
        if open_transactions():
            import traceback

            where = "".join(traceback.format_stack(limit=12)[:-1])
            violations.append(f"{request.method} {request.url}\n{where}")
        return send(self, request, **kwargs)

    monkeypatch.setattr(MicrosoftSession, "send", checked_send)
    yield violations
    if violations:
        pytest.fail(
            "HTTP to Microsoft inside a database transaction:\n" + "\n".join(violations[:3])
        )


@pytest.fixture(scope="session")
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@pytest.fixture(scope="session")
def blob_root_dir(tmp_path_factory) -> Path:
    """This run's blob store: shared by the tests and the processes they start."""
    return tmp_path_factory.mktemp("blobs")


@pytest.fixture(autouse=True)
def blob_root(settings, blob_root_dir: Path) -> Iterator[Path]:
    """Blobs go to this run's store, never to the checkout's var/ (content-addressed, so
    tests sharing it cannot disturb each other)."""
    from restore.blobs import blob_store

    settings.BLOB_STORE_URL = f"file://{blob_root_dir}"
    blob_store.cache_clear()
    yield blob_root_dir
    blob_store.cache_clear()


@pytest.fixture(scope="session")
def subprocess_env(django_db_setup: None, live_server, blob_root_dir: Path) -> dict[str, str]:
    """Environment for processes (worker, commands) that act on this test run's state."""
    return {
        **os.environ,
        # Named, so a test can find (and terminate) the connections of its subprocesses.
        "DATABASE_URL": database_url_for(connection.settings_dict["NAME"])
        + f"?application_name={SUBPROCESS_APPLICATION_NAME}",
        "BLOB_STORE_URL": f"file://{blob_root_dir}",
        "PORTAL_URL": live_server.url,
        "SANDBOX_URL": f"{live_server.url}/sandbox",
        "PYTHONUNBUFFERED": "1",
    }


class WorkerProcess:
    """A `celery worker` subprocess, as production runs it."""

    def __init__(self, env: dict[str, str], log_path: Path, name: str = "") -> None:
        self.env = env
        self.log_path = log_path
        self.name = name or f"test-worker-{os.getpid()}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        command = [
            sys.executable, "-m", "celery", "--app", "portal", "worker",
            "--pool", "threads", "--concurrency", "8", "--loglevel", "INFO",
            "--without-gossip", "--without-mingle", "--hostname", f"{self.name}@%h",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.wait_until_ready()

    def wait_until_ready(self, timeout: float = 60) -> None:
        from portal.celery import app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"The Celery worker exited; see {self.log_path}")
            if any(
                f"{self.name}@" in name for reply in app.control.ping(timeout=0.5) for name in reply
            ):
                return
        raise RuntimeError(f"The Celery worker did not come up; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a crashed host would."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


# Every worker started for this session, so a suite that needs the only poller (the
# contract suite, tests/contract) can pause them.
WORKERS: list[WorkerProcess] = []


@pytest.fixture(scope="session")
def celery_worker(
    subprocess_env: dict[str, str], redis_client: redis.Redis, tmp_path_factory
) -> Iterator[WorkerProcess]:
    """One real worker for the session, consuming from the test Redis database."""
    redis_client.flushdb()
    # Heartbeats every 2 s: a test that empties the tables sees the worker again quickly.
    env = {**subprocess_env, "WORKER_HEARTBEAT_SECONDS": "2"}
    worker = WorkerProcess(env, tmp_path_factory.mktemp("celery") / "worker.log")
    worker.start()
    WORKERS.append(worker)
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def session_workers_paused() -> Iterator[None]:
    """Stop the session's workers for a module whose processes use other Microsoft
    settings (another cloud, another provider): they would poll and run its work with
    the wrong ones. They start again after the module."""
    paused = [w for w in WORKERS if w.process and w.process.poll() is None]
    for worker in paused:
        worker.stop()
    yield
    for worker in paused:
        worker.start()


def free_port() -> int:
    """A TCP port nothing listens on now (for servers a test starts itself)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition, timeout: float = 20, interval: float = 0.1, message: str = ""):
    """Poll `condition` until it returns something truthy; fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        if result := condition():
            return result
        if time.monotonic() > deadline:
            pytest.fail(message or f"Condition not met within {timeout} s")
        time.sleep(interval)


# --- An S3-compatible server ------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> Iterator[str]:
    """moto's S3 server in its own process: the code under test talks HTTP to it, signed
    requests and all, exactly as to AWS. Yields its endpoint URL."""
    port = free_port()
    log = (tmp_path_factory.mktemp("s3") / "moto.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.2)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


S3_CREDENTIALS = {
    "BLOB_S3_REGION": "eu-west-1",
    "BLOB_S3_ACCESS_KEY_ID": "lifeboat-test",
    "BLOB_S3_SECRET_ACCESS_KEY": "lifeboat-test-secret",
}


@pytest.fixture
def s3_store(settings, s3_server) -> Iterator[str]:
    """This test's blob store: a fresh bucket on the S3 server. Yields the bucket name."""
    from restore.blobs import blob_store, s3

    bucket = f"lifeboat-{uuid.uuid4().hex[:12]}"
    client = s3.client(
        endpoint_url=s3_server,
        region=S3_CREDENTIALS["BLOB_S3_REGION"],
        access_key_id=S3_CREDENTIALS["BLOB_S3_ACCESS_KEY_ID"],
        secret_access_key=S3_CREDENTIALS["BLOB_S3_SECRET_ACCESS_KEY"],
    )
    client.create_bucket(
        Bucket=bucket,
        CreateBucketConfiguration={"LocationConstraint": S3_CREDENTIALS["BLOB_S3_REGION"]},
    )
    settings.BLOB_STORE_URL = f"s3://{bucket}/lifeboat"
    settings.BLOB_S3_ENDPOINT_URL = s3_server
    for name, value in S3_CREDENTIALS.items():
        setattr(settings, name, value)
    blob_store.cache_clear()
    yield bucket
    blob_store.cache_clear()


# --- Browser ---------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's Chromium driven by Playwright (Playwright's own download can't run here)."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop; Django refuses ORM calls from a thread
    # with a running loop unless told this is deliberate (the tests are synchronous).
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server) -> Iterator[object]:
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


# --- The sandbox tenant ------------------------------------------------------------------


class Sandbox:
    """The sandbox tenant served by the live server, seeded fresh for one test."""

    def __init__(self, url: str) -> None:
        from sandbox import constants

        self.url = url
        self.login_url = f"{url}/login"
        self.graph_url = f"{url}/graph/v1.0"
        self.device_login_url = f"{url}/login/device"
        self.tenant_id = constants.TENANT_ID
        self.tenant_domain = constants.TENANT_DOMAIN
        self.other_tenant_id = constants.OTHER_TENANT_ID
        self.public_client_id = constants.PUBLIC_CLIENT_ID
        self.confidential_client_id = constants.CONFIDENTIAL_CLIENT_ID
        self.confidential_client_secret = constants.CONFIDENTIAL_CLIENT_SECRET
        self.portal_api_scope = f"api://{constants.CONFIDENTIAL_CLIENT_ID}/access_as_user"
        self.token_url = f"{self.login_url}/{self.tenant_id}/oauth2/v2.0/token"
        self.devicecode_url = f"{self.login_url}/{self.tenant_id}/oauth2/v2.0/devicecode"

    def user(self, alias: str):
        from sandbox.models import DirectoryUser

        return DirectoryUser.objects.get(user_principal_name__startswith=f"{alias}@")

    def password(self, alias: str) -> str:
        from sandbox.seed import person

        return person(alias).password

    def upn(self, alias: str) -> str:
        from sandbox.seed import person

        return person(alias).upn

    def approve(self, user_code: str, alias: str, *, decline: bool = False) -> None:
        from django.core.management import call_command

        args = ["approve", "--code", user_code, "--user", self.upn(alias)]
        call_command("sandbox", *args, *(["--decline"] if decline else []), stdout=io.StringIO())

    def policy(self, **fields) -> None:
        from sandbox.models import Policy

        Policy.current()
        Policy.objects.update(**fields)

    def fault(
        self,
        path_contains: str,
        status: int = 0,
        *,
        retry_after=None,
        remaining=1,
        method: str = "",
        action: str = "answer",
    ):
        """Plan `remaining` failures of matching requests (see sandbox.models.Fault)."""
        from sandbox.models import Fault

        return Fault.objects.create(
            path_contains=path_contains,
            status=status,
            retry_after=retry_after,
            remaining=remaining,
            method=method,
            action=action,
        )


@pytest.fixture(scope="session")
def sandbox_snapshot() -> resets.SandboxSnapshot:
    return resets.SandboxSnapshot()


@pytest.fixture
def sandbox(live_server, settings, sandbox_snapshot: resets.SandboxSnapshot) -> Sandbox:
    """A freshly seeded sandbox tenant; the portal's settings route Microsoft to it."""
    url = f"{live_server.url}/sandbox"
    settings.PORTAL_URL = live_server.url
    settings.SANDBOX_URL = settings.SANDBOX_PUBLIC_URL = url
    settings.MICROSOFT_ROUTES = {
        settings.MICROSOFT_AUTHORITY_HOST: f"{url}/login",
        urlsplit(settings.MICROSOFT_GRAPH_URL).hostname: f"{url}/graph",
    }
    sandbox_snapshot.restore_or_seed()
    # The portal caches signing keys and leases in the shared cache; a new tenant needs
    # a clean slate (the worker process shares this cache).
    cache.clear()
    # The restored tenant has the same id as the last one, so this process's msal apps
    # (keyed by tenant id) would hand out the last test's app-only token, with the roles
    # of that test's consent, and backups would read their permissions from it. The
    # worker process keeps its own: they are signed with a key the restore deleted, so
    # Graph refuses them (401) and the client asks for a new one; their roles are the
    # seeded ones, as the tests that change the app's roles back up in this process.
    from authflow import flows  # after Django's set-up (flows imports models)

    flows.forget_app_only_tokens()
    return Sandbox(url)


@pytest.fixture
def page_as(browser, live_server):
    """A browser tab already signed in to the portal as `user` (session cookie)."""
    from django.conf import settings as django_settings
    from django.test import Client

    contexts = []

    def open_page(user):
        client = Client()
        client.force_login(user)
        context = browser.new_context(base_url=live_server.url)
        context.set_default_timeout(15_000)
        context.add_cookies(
            [
                {
                    "name": django_settings.SESSION_COOKIE_NAME,
                    "value": client.cookies[django_settings.SESSION_COOKIE_NAME].value,
                    "url": live_server.url,
                }
            ]
        )
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()
