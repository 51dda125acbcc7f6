"""Benchmark: many pending device-code sign-ins, one poller process, against the sandbox.

Measures what issue 4 sets as targets, for Lifeboat's poller (authflow/poller.py) and for
the naive approach (msal's blocking acquire_token_by_device_flow, one worker slot per
pending sign-in):

- how many pending sign-ins one process keeps polled on schedule;
- how soon a completed sign-in is noticed (p50/p95, target: interval + 1 s);
- slow_down answers (target: 0);
- token requests per sign-in against the ideal elapsed/interval (target: within 5%).

Usage (PostgreSQL and Redis as for the tests; it uses its own database):

    .venv/bin/python bench/device_code_poller.py --pending 2000 --interval 5 --seconds 120
    .venv/bin/python bench/device_code_poller.py --naive --pending 300 --interval 5 --seconds 90

The sandbox runs in gunicorn (--server-workers processes) on this machine, so the two
sides share its cores: the numbers are for the whole loop, server included.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/lifeboat_bench")
BENCH_REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def configure(port: int) -> dict[str, str]:
    url = f"http://127.0.0.1:{port}"
    env = {
        "DATABASE_URL": BENCH_DB,
        "REDIS_URL": BENCH_REDIS,
        # The poller runs in this process; nothing consumes the kicks sign-ins send.
        "CELERY_BROKER_URL": "memory://",
        "PORTAL_URL": url,
        "SANDBOX_URL": f"{url}/sandbox",
        "SECRET_KEY": "bench-only-secret-key-" + "x" * 40,
        "TOKEN_ENCRYPTION_KEYS": "dGVzdC1vbmx5LWtleS1kby1ub3QtdXNlLTMyYnl0ZSE=",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    return env


def create_database() -> None:
    import psycopg

    name = BENCH_DB.rsplit("/", 1)[1]
    admin = BENCH_DB.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def start_server(env: dict[str, str], port: int, workers: int) -> subprocess.Popen[bytes]:
    command = [
        str(ROOT / ".venv/bin/gunicorn"), "portal.wsgi", "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers), "--worker-class", "gthread", "--threads", "8",
        "--log-level", "warning", "--backlog", "4096", "--graceful-timeout", "5",
    ]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env})
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("The sandbox server did not start")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    # The poller's threads keep connections alive, which holds gthread workers in their
    # graceful shutdown: kill the server rather than fail the run after its report.
    server.terminate()
    try:
        server.wait(20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its live children."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[0] is the state, so field n of proc(5) is fields[n - 3].
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def approve_later(schedule: list[tuple[float, int]], stop: threading.Event) -> None:
    """Mark sandbox device codes approved at their scheduled moments (what people do)."""
    from django.db import connection
    from django.utils import timezone

    from sandbox.models import DeviceCode, DirectoryUser

    users = list(DirectoryUser.objects.filter(tenant_id="5b7c2f1e-8d4a-4c3b-9e6f-1a2b3c4d5e6f"))
    for at, device_code_id in sorted(schedule):
        while time.monotonic() < at:
            if stop.wait(min(0.05, at - time.monotonic())):
                connection.close()
                return
        DeviceCode.objects.filter(pk=device_code_id, status="pending").update(
            status="approved", user=random.choice(users), approved_at=timezone.now()
        )
    connection.close()


def start_sign_ins(count: int) -> list:
    from django.db import connection

    from authflow import signins

    def one(_):
        try:
            return signins.start_device_sign_in()
        finally:
            connection.close()

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(one, range(count)))


def mark_start(args) -> None:
    """What the machine and the sandbox server had done when the measured part began."""
    args.server_cpu_at_start = process_tree_cpu(args.server_pid)
    args.loadavg_at_start = [round(x, 2) for x in os.getloadavg()]


def report(
    label: str, args, started: float, ended: float, completed_latencies, polls, cpu, errors
) -> dict:
    from sandbox.models import DeviceCode

    elapsed = ended - started
    server_cpu = process_tree_cpu(args.server_pid) - args.server_cpu_at_start
    codes = list(
        DeviceCode.objects.values("polls", "slow_downs", "created_at", "approved_at", "status")
    )
    pending_codes = [c for c in codes if c["status"] == "pending"]
    ideal = elapsed / args.interval
    ratios = [c["polls"] / ideal for c in pending_codes] if ideal >= 1 else []
    result = {
        "approach": label,
        "pending_sign_ins": args.pending,
        "interval_s": args.interval,
        "seconds": round(elapsed, 1),
        "token_requests": polls,
        "requests_per_second": round(polls / elapsed, 1),
        "slow_down_answers": sum(c["slow_downs"] for c in codes),
        "errors": errors,
        "approved": sum(1 for c in codes if c["approved_at"] is not None),
        "completed": len(completed_latencies),
        "noticed_p50_s": round(percentile(completed_latencies, 50), 2),
        "noticed_p95_s": round(percentile(completed_latencies, 95), 2),
        "target_p95_s": args.interval + 1,
        "requests_per_pending_vs_ideal_mean": round(statistics.fmean(ratios), 3)
        if ratios
        else None,
        "requests_per_pending_vs_ideal_min": round(min(ratios), 3) if ratios else None,
        "poller_cpu_s": round(cpu, 1),
        "poller_cpu_ms_per_request": round(cpu / polls * 1000, 2) if polls else None,
        "sandbox_server_cpu_s": round(server_cpu, 1),
        "sandbox_server_cpu_ms_per_request": round(server_cpu / polls * 1000, 2) if polls else None,
        "poller_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "threads_used": args.threads if label == "lifeboat" else args.pending,
        "cores": os.cpu_count(),
        "loadavg_at_start": args.loadavg_at_start,
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result, indent=2))
    return result


def run_lifeboat(args) -> dict:
    from authflow import poller
    from authflow.models import SignIn
    from sandbox.models import DeviceCode

    sign_ins = start_sign_ins(args.pending)
    print(f"{len(sign_ins)} sign-ins pending", file=sys.stderr)
    device_codes = list(DeviceCode.objects.order_by("id").values_list("id", flat=True))
    begin = time.monotonic()
    completing = random.sample(device_codes, int(len(device_codes) * args.complete_fraction))
    window = (args.interval * 2, args.seconds - args.interval * 3)
    schedule = [(begin + random.uniform(*window), dc) for dc in completing]
    stop = threading.Event()
    approver = threading.Thread(target=approve_later, args=(schedule, stop), daemon=True)
    approver.start()
    mark_start(args)
    cpu_before = time.process_time()
    stats = poller.run(max_seconds=args.seconds, threads=args.threads)
    ended = time.monotonic()
    stop.set()
    latencies = []
    approved = dict(DeviceCode.objects.exclude(approved_at=None).values_list("id", "approved_at"))
    by_user_code = dict(DeviceCode.objects.values_list("user_code", "id"))
    for s in SignIn.objects.filter(status="completed"):
        dc = by_user_code.get(s.user_code)
        if dc in approved:
            latencies.append((s.completed_at - approved[dc]).total_seconds())
    cpu = time.process_time() - cpu_before
    errors = {"transient": stats.transient, "answers_by_error": stats.by_error}
    return report("lifeboat", args, begin, ended, latencies, stats.polls, cpu, errors)


def run_naive(args) -> dict:
    """msal's blocking loop, one thread per pending sign-in (a worker slot each)."""
    import msal

    from authflow import flows
    from portal.microsoft import http_session
    from sandbox.models import DeviceCode

    apps_and_flows = []
    for _ in range(args.pending):
        app = flows.public_app(session=http_session())
        apps_and_flows.append((app, app.initiate_device_flow(scopes=["User.Read"])))
    device_codes = list(DeviceCode.objects.order_by("id").values_list("id", flat=True))
    begin = time.monotonic()
    deadline = time.time() + args.seconds
    completing = random.sample(device_codes, int(len(device_codes) * args.complete_fraction))
    window = (args.interval * 2, args.seconds - args.interval * 3)
    schedule = [(begin + random.uniform(*window), dc) for dc in completing]
    stop = threading.Event()
    threading.Thread(target=approve_later, args=(schedule, stop), daemon=True).start()
    noticed: dict[str, float] = {}
    errors: dict[str, int] = {}

    def block(item: tuple[msal.PublicClientApplication, dict]) -> None:
        app, flow = item
        try:
            result = app.acquire_token_by_device_flow(
                flow, exit_condition=lambda f: time.time() > deadline
            )
        except flows.TRANSIENT_ERRORS as exc:
            # msal's loop does not survive a network error: that sign-in stops being
            # polled. Count it rather than let one reset end the whole run.
            name = type(exc).__name__
            errors[name] = errors.get(name, 0) + 1
            return
        if "access_token" in result:
            noticed[flow["user_code"]] = time.time()

    mark_start(args)
    cpu_before = time.process_time()
    with ThreadPoolExecutor(args.pending) as pool:
        list(pool.map(block, apps_and_flows))
    ended = time.monotonic()
    stop.set()
    polls = sum(DeviceCode.objects.values_list("polls", flat=True))
    approved = dict(
        DeviceCode.objects.exclude(approved_at=None).values_list("user_code", "approved_at")
    )
    latencies = [
        at - approved[code].timestamp() for code, at in noticed.items() if code in approved
    ]
    return report(
        "naive (msal blocking loop)",
        args,
        begin,
        ended,
        latencies,
        polls,
        time.process_time() - cpu_before,
        errors={"sign_ins_abandoned_on_network_error": sum(errors.values()), **errors},
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pending", type=int, default=1000)
    parser.add_argument("--interval", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--threads", type=int, default=32, help="poller HTTP threads")
    parser.add_argument("--server-workers", type=int, default=3)
    parser.add_argument("--complete-fraction", type=float, default=0.1)
    parser.add_argument("--naive", action="store_true")
    args = parser.parse_args()

    port = free_port()
    env = configure(port)
    create_database()
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.core.cache import cache

    from sandbox import seed
    from sandbox.models import Policy

    seed.reset()
    cache.clear()
    Policy.objects.update(
        device_code_interval=args.interval, device_code_lifetime=max(900, int(args.seconds * 2))
    )
    server = start_server(env, port, args.server_workers)
    args.server_pid = server.pid
    try:
        (run_naive if args.naive else run_lifeboat)(args)
    finally:
        stop_server(server)


if __name__ == "__main__":
    main()
