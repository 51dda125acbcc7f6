"""Benchmark: full backups of many objects in parallel Celery workers against the sandbox's
throttling, as a ratio of the ceiling; then an unchanged incremental pass per object.

Issue 20 ★6 (mail: ≥ 0.8 of the throttling ceiling until the CPU binds; an unchanged
incremental pass ≤ 0.3 s per object), issue 18 ★6 (calendars and contacts: items/s and
requests per item against the ceiling, target ≥ 0.9), issue 22 (SharePoint libraries:
full backup as a ratio of the ceiling).

What runs is the product: discovery (restore.backup.discovery) finds the objects, the task
`restore.tasks.backup_object` is queued once per object on a real Redis broker, and
`--workers` Celery worker processes of the product (bench/counted_worker.py: the product's
worker plus a request counter) run them against the sandbox served by gunicorn over HTTP.

The ceiling. Outlook limits each app per mailbox (`--window-requests` per sliding
`--window-seconds`; 4 at once), so mailboxes backed up side by side each have their own
budget; SharePoint limits the app per tenant in resource units (`--sp-units` per
`--sp-window-seconds`), shared by every library. A run cannot beat, from empty windows,

    bound (s) = (ceil(used / limit) - 1) * window

per mailbox (used = the Graph operations its backup needed, each inside a `$batch`
counted, 429s left out; the mailboxes' mean) or for the tenant (used = resource units:
`sandbox.graph.throttling.resource_units` of each request, summed). `ratio_to_ceiling`
= bound / wall time from the first point's start to the last point's end, at most 1;
`ratio_to_steady_rate` spreads the first window's free burst: (used / limit - 1) *
window / wall. Outlook's real rate (10,000 per 600 s) is kept by default with a 15-s
window (250 requests), so a run spans several windows in a minute or two.

`--unthrottled` switches the sandbox's limits off: how fast the machine backs up when
nothing but the CPU holds it back (the CPU time of the server, the workers and
PostgreSQL is reported beside it).

Workloads: `mail` (synthetic mailboxes of 1,000 messages: `sandbox.seed.reset(scale)`),
`calendar` and `contacts` (`--items` events or contacts added to each synthetic mailbox),
`sharepoint` (one library "Projects / Bench" of `--items` files).

Usage (PostgreSQL and Redis as for the tests; its own database, dropped and re-created,
and a Redis database no one else uses: the run flushes it, and a worker of someone else's
on it would take the bench's tasks):

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/lb_backup_bench \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/8 \\
        .venv/bin/python bench/backup_throughput.py --workload mail --objects 4 \\
        [--workers 4] [--window-requests 250 --window-seconds 15] [--unthrottled]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/lifeboat_backup_bench"
)

from bench.device_code_poller import (  # noqa: E402
    configure,
    create_database,
    free_port,
    process_tree_cpu,
    start_server,
)
from bench.restore_throughput import bound  # noqa: E402

COUNT_KEY = "bench:graph-requests"
WORKLOAD = {"mail": "mail", "calendar": "calendar", "contacts": "contacts"}


def add_events(users, count: int) -> None:
    """`count` one-off meetings in each user's calendar, as the sandbox stores them."""
    from sandbox import generator
    from sandbox.graph import calendar, recurrence
    from sandbox.models import Calendar

    for user in users:
        primary = Calendar.objects.filter(owner=user).first() or Calendar.objects.create(
            id=f"bench-calendar-{user.id}", owner=user, name="Calendar", is_default=True
        )
        for n in range(count):
            start = generator.EPOCH - timedelta(hours=5 * n)
            calendar.new_event(
                user, primary,
                {
                    "subject": f"Benchmark meeting {n}",
                    "body": {"contentType": "html", "content": "<p>Agenda.</p>" * 20},
                    "start": recurrence.to_graph(start, "W. Europe Standard Time"),
                    "end": recurrence.to_graph(start + timedelta(minutes=45),
                                               "W. Europe Standard Time"),
                    "location": {"displayName": f"Room {n % 12}"},
                    "attendees": [{"emailAddress": {"name": "Bob Lee",
                                                    "address": "bob@contoso.example"},
                                   "type": "required"}],
                },
                now=generator.EPOCH - timedelta(days=60),
                invite=False,
            )  # fmt: skip


def add_contacts(users, count: int) -> None:
    from sandbox.graph import contacts

    for user in users:
        root = contacts.root_folder(user)
        for n in range(count):
            contacts.new_contact(
                user, root,
                {"givenName": f"Person{n}", "surname": "Bench", "displayName": f"Person {n}",
                 "companyName": "Northwind", "businessPhones": [f"+1 206 555 {n:04d}"],
                 "emailAddresses": [{"name": f"Person {n}",
                                     "address": f"person{n}@northwind.example"}]},
                journal=False,
            )  # fmt: skip


def add_library(files: int) -> None:
    from sandbox import generator
    from sandbox.content import Batches
    from sandbox.models import Site
    from sandbox.sharepoint import _library

    batches = Batches()
    projects = Site.objects.get(name="Projects")
    owner = generator.Owner(key="site:bench", name="Projects", address="projects@contoso")
    _library(batches, projects, "Bench", list(generator.drive_files(owner, files)))
    batches.flush()


def counts(client) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in client.hgetall(COUNT_KEY).items()}


def wait_for_points(objects, seq: int, timeout: float) -> list:
    from restore.models import RestorePoint

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        points = list(
            RestorePoint.objects.filter(object__in=objects, seq=seq, finished_at__isnull=False)
        )
        if len(points) == len(objects):
            return points
        time.sleep(0.5)
    sys.exit(f"Backups of restore point {seq} did not finish in {timeout:.0f} s")


def postgres_cpu() -> float:
    """CPU seconds of the PostgreSQL backends serving the bench's database (live ones:
    the server is shared with other work, and backends that ended are not counted)."""
    database = os.environ["BENCH_DATABASE_URL"].rsplit("/", 1)[1]
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if f" {database} " in command:
            fields = stat[stat.rindex(")") + 2 :].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workload", choices=("mail", "calendar", "contacts", "sharepoint"))
    parser.add_argument("--objects", type=int, default=4, help="mailboxes backed up at once")
    parser.add_argument("--workers", type=int, default=0, help="worker processes (objects)")
    parser.add_argument("--items", type=int, default=300, help="events/contacts/files each")
    parser.add_argument("--window-requests", type=int, default=250)
    parser.add_argument("--window-seconds", type=int, default=15)
    parser.add_argument("--sp-units", type=int, default=300)
    parser.add_argument("--sp-window-seconds", type=int, default=15)
    parser.add_argument("--server-workers", type=int, default=3)
    parser.add_argument("--unthrottled", action="store_true")
    args = parser.parse_args()
    workers = args.workers or args.objects

    port = free_port()
    env = configure(port)
    work = Path(tempfile.mkdtemp(prefix="lifeboat-backup-bench-"))
    env["BLOB_ROOT"] = str(work / "blobs")
    env["CELERY_BROKER_URL"] = env["REDIS_URL"]
    env["BENCH_COUNT_KEY"] = COUNT_KEY
    os.environ.pop("BLOB_STORE_URL", None)
    os.environ.update(env)
    create_database()
    import django

    django.setup()
    import redis
    from django.conf import settings
    from django.core.cache import cache
    from django.core.management import call_command

    from restore.backup import discovery
    from restore.models import Item, ProtectedObject
    from sandbox import seed
    from sandbox.models import DirectoryUser, Policy

    call_command("migrate", verbosity=0)
    mailboxes = args.objects if args.workload != "sharepoint" else 0
    seed.reset(scale=mailboxes + 1)
    synthetic = list(
        DirectoryUser.objects.filter(user_principal_name__startswith="user").order_by("id")
    )
    if args.workload == "calendar":
        add_events(synthetic, args.items)
    elif args.workload == "contacts":
        add_contacts(synthetic, args.items)
    elif args.workload == "sharepoint":
        add_library(args.items)
    Policy.current()
    Policy.objects.update(
        throttling_enabled=not args.unthrottled,
        mailbox_requests_per_window=args.window_requests,
        mailbox_window_seconds=args.window_seconds,
        sharepoint_units=args.sp_units,
        sharepoint_window_seconds=args.sp_window_seconds,
    )
    broker = redis.Redis.from_url(settings.REDIS_URL)
    broker.delete("celery", COUNT_KEY)  # nothing queued by an earlier run
    cache.clear()  # flushes the Redis database: give the bench one of its own
    server = start_server(env, port, args.server_workers)
    worker = None
    try:
        discovery.discover()
        if args.workload == "sharepoint":
            chosen = ProtectedObject.objects.filter(name="Projects / Bench")
        else:
            chosen = ProtectedObject.objects.filter(
                workload=WORKLOAD[args.workload], owner_id__in=[u.id for u in synthetic]
            )
        objects = list(chosen)
        ProtectedObject.objects.exclude(pk__in=[o.pk for o in objects]).update(enabled=False)
        if not objects:
            sys.exit("Discovery found none of the benchmark's objects.")
        worker = subprocess.Popen(
            [str(ROOT / ".venv/bin/python"), str(ROOT / "bench/counted_worker.py"),
             "--concurrency", str(workers), "--pool", "prefork", "--without-heartbeat",
             "--without-gossip", "--without-mingle"],
            cwd=ROOT, env={**os.environ, **env},
            stdout=subprocess.DEVNULL,  # its lines would follow the bench's JSON
        )  # fmt: skip
        time.sleep(6)  # the worker's start-up is not the backup's
        from restore.backup.tasks import backup_object

        broker.delete(COUNT_KEY)
        cpu = {"server": process_tree_cpu(server.pid), "workers": process_tree_cpu(worker.pid),
               "postgres": postgres_cpu()}  # fmt: skip
        load_before = os.getloadavg()
        for obj in objects:
            backup_object.delay(obj.pk)
        points = wait_for_points(objects, 1, 1800)
        cpu_used = {
            "server": process_tree_cpu(server.pid) - cpu["server"],
            "workers": process_tree_cpu(worker.pid) - cpu["workers"],
            "postgres": postgres_cpu() - cpu["postgres"],
        }
        full = counts(broker)
        failed = [p for p in points if p.status != "succeeded"]
        if failed:
            sys.exit(f"{len(failed)} backups failed: {failed[0].error}")
        wall = (
            max(p.finished_at for p in points) - min(p.started_at for p in points)
        ).total_seconds()
        items = Item.objects.filter(object__in=objects).count()
        by_status = {k[7:]: v for k, v in full.items() if k.startswith("status:")}
        by_kind = {k[5:]: v for k, v in full.items() if k.startswith("kind:")}
        served = sum(v for k, v in by_status.items() if k != "429")
        batches = sum(v for k, v in by_kind.items() if k.endswith("$batch"))
        operations = served - batches + full.get("inner", 0)
        if args.workload == "sharepoint":
            units = sharepoint_units(by_kind) + 2 * full.get("inner", 0)
            exact, fluid = bound(units, args.sp_units, args.sp_window_seconds)
            ceiling = {"resource_units": units, "units_per_window": args.sp_units,
                       "window_s": args.sp_window_seconds}  # fmt: skip
            per_item = units / max(1, items)
            ceiling_items_s = args.sp_units / args.sp_window_seconds / per_item
        else:
            per_mailbox = math.ceil(operations / len(objects))
            exact, fluid = bound(per_mailbox, args.window_requests, args.window_seconds)
            ceiling = {"operations_per_mailbox": per_mailbox,
                       "requests_per_window": args.window_requests,
                       "window_s": args.window_seconds}  # fmt: skip
            per_item = operations / max(1, items)
            rate = len(objects) * args.window_requests / args.window_seconds
            ceiling_items_s = rate / per_item
        # The unchanged incremental pass: every object again, nothing changed.
        broker.delete(COUNT_KEY)
        started = time.monotonic()
        for obj in objects:
            backup_object.delay(obj.pk)
        again = wait_for_points(objects, 2, 600)
        incremental_wall = time.monotonic() - started
        per_object = [(p.finished_at - p.started_at).total_seconds() for p in again]
        incremental = counts(broker)
        cpu_total = sum(cpu_used.values())
        result = {
            "workload": args.workload,
            "objects": len(objects),
            "workers": workers,
            "throttled": not args.unthrottled,
            "items": items,
            "wall_s": round(wall, 1),
            "items_per_s": round(items / wall, 1),
            "graph_requests_by_status": by_status,
            "graph_requests_by_kind": by_kind,
            "operations": operations,
            "operations_per_item": round(operations / max(1, items), 3),
            "requests_per_item_with_429s": round(sum(by_status.values()) / max(1, items), 3),
            "operations_per_s": round(operations / wall, 1),
            "ceiling": ceiling,
            "bound_s": exact,
            "ratio_to_ceiling": round(exact / wall, 3),
            "ratio_to_steady_rate": round(fluid / wall, 3),
            # The limits' steady rate in items (every mailbox at once; for SharePoint the
            # tenant's units): what a long backup could reach, burst or not.
            "ceiling_items_per_s": round(ceiling_items_s, 1),
            "ratio_items_per_s_to_ceiling": round(items / wall / ceiling_items_s, 3),
            "cpu_s": {k: round(v, 1) for k, v in cpu_used.items()},
            "cpu_cores_busy": round(cpu_total / wall, 2),
            "cpu_ms_per_operation": round(1000 * cpu_total / max(1, operations), 2),
            "incremental_per_object_s_median": round(statistics.median(per_object), 3),
            "incremental_per_object_s_max": round(max(per_object), 3),
            "incremental": {
                "per_object_s_median": round(statistics.median(per_object), 3),
                "per_object_s_max": round(max(per_object), 3),
                "wall_s": round(incremental_wall, 2),
                "requests": sum(v for k, v in incremental.items() if k.startswith("status:")),
                "changes": sum(p.items_added + p.items_changed for p in again),
                "target_s": 0.3,
            },
            "load_1min_before": round(load_before[0], 2),
            "load_1min_after": round(os.getloadavg()[0], 2),
        }
        print(json.dumps(result, indent=2))
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
        server.terminate()
        server.wait(20)


def sharepoint_units(by_kind: dict[str, int]) -> int:
    """Resource units of the run's drive requests (the sandbox's own cost table).

    By kind: `GET delta` pages (2 for the first, 1 with a token: taken as 1 each but
    one), `GET content` 1, other GETs 2, writes 2; download and upload URLs are not
    charged by the sandbox (docs/sandbox.md). Requests inside a `$batch` are not seen
    here: the reader's `$batch`es of version lists (2 each) are counted from the
    `inner` total by the caller."""
    from sandbox.graph.throttling import resource_units

    total = 0
    for kind, n in by_kind.items():
        method, _, last = kind.partition(" ")
        if last.endswith("-url") or last == "$batch":
            continue
        if last == "delta":
            total += n + 1  # the first page has no token
            continue
        path = "drives/x/items/y" if last == "{id}" else f"drives/x/items/y/{last}"
        total += n * resource_units(method, path, {})
    return total


if __name__ == "__main__":
    main()
