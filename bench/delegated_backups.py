"""Benchmark: 1,000 group-calendar backups waiting on 50 people's sign-ins.

Issue 19's target: scheduled backups of many groups share ONE pending sign-in per person
(50, not 1,000), and waiting backups slow neither the sign-in poller nor token refresh.

Set-up (own database, sandbox served by gunicorn on this machine): 1,000 Microsoft 365
groups in the sandbox, each owned by two of 50 people (person i and i+1), one group
calendar object per group, and ten people signed in (for the refresh timings).

Variants (run them alternately with bench/paired.py):

- `shared` (Lifeboat): every group's backup runs (restore/backup/runner.py) and waits;
  the pending sign-ins are what the runs started (one per person, reused);
- `per-group` (the baseline a `login:<group>` per group gives): one group-bound sign-in
  per group, and no backups run;
- `people-only` (the baseline for "no slowdown"): the same 50 sign-ins, one per person,
  started directly, with no backup waiting.

Backups (or sign-in starts) run `--concurrency` at a time, as workers would.
Then, in both, the poller runs for `--seconds` over whatever is pending, and 10 people's
tokens are refreshed (forced) 3 times each, timed. Prints one JSON object.

    .venv/bin/python bench/paired.py --runs 3 --metric pending_sign_ins \\
        --metric poller_cpu_ms_per_s --metric refresh_p50_ms \\
        "shared=.venv/bin/python bench/delegated_backups.py --variant shared" \\
        "per-group=.venv/bin/python bench/delegated_backups.py --variant per-group"
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.device_code_poller import (  # noqa: E402 - the path above first
    configure,
    create_database,
    free_port,
    start_server,
    stop_server,
)

TENANT = "5b7c2f1e-8d4a-4c3b-9e6f-1a2b3c4d5e6f"


def build_directory(groups: int, people: int) -> list:
    """`people` sandbox users and `groups` groups, each owned by two of them; one group
    calendar object per group. Returns the objects."""
    from restore.models import EntityKind, ProtectedObject
    from sandbox.models import DirectoryUser, Group, Tenant

    tenant = Tenant.objects.get(id=TENANT)
    users = [
        DirectoryUser(
            id=uuid.uuid5(uuid.NAMESPACE_URL, f"bench-owner-{n}"),
            tenant=tenant,
            user_principal_name=f"owner{n:02}@contoso.example",
            display_name=f"Owner {n:02}",
            mail=f"owner{n:02}@contoso.example",
            password="unused",  # noqa: S106 - nobody signs in as them here
        )
        for n in range(people)
    ]
    DirectoryUser.objects.bulk_create(users)
    made = Group.objects.bulk_create(
        Group(
            id=uuid.uuid5(uuid.NAMESPACE_URL, f"bench-group-{n}"),
            tenant=tenant,
            display_name=f"Team {n:04}",
            mail_nickname=f"team{n:04}",
            mail=f"team{n:04}@contoso.example",
            group_types=["Unified"],
        )
        for n in range(groups)
    )
    owners = Group.owners.through
    members = Group.members.through
    owners.objects.bulk_create(
        owners(group_id=g.id, directoryuser_id=users[(n + k) % people].id)
        for n, g in enumerate(made)
        for k in (0, 1)
    )
    members.objects.bulk_create(
        members(group_id=g.id, directoryuser_id=users[(n + k) % people].id)
        for n, g in enumerate(made)
        for k in (0, 1)
    )
    return ProtectedObject.objects.bulk_create(
        ProtectedObject(
            tenant_id=TENANT,
            workload="calendar",
            entity=EntityKind.GROUP,
            owner_id=g.id,
            name=g.display_name,
            address=g.mail,
        )
        for g in made
    )


def sign_in_people(aliases: list[str]) -> list:
    """Sign these seeded people in by device code, approved at once, polled here."""
    from django.utils import timezone

    from authflow import poller, signins
    from authflow.models import SignIn
    from sandbox.models import DeviceCode, DirectoryUser

    started = [signins.start_device_sign_in() for _ in aliases]
    for sign_in, alias in zip(started, aliases, strict=True):
        user = DirectoryUser.objects.get(user_principal_name=f"{alias}@contoso.example")
        DeviceCode.objects.filter(user_code=sign_in.user_code).update(
            status="approved", user=user, approved_at=timezone.now()
        )
    for _ in range(20):
        if not SignIn.objects.filter(pk__in=[s.pk for s in started], status="pending").exists():
            break
        poller.run(max_seconds=1.5, threads=8)
    return [s.result_user for s in SignIn.objects.filter(pk__in=[s.pk for s in started])]


def refresh_timings(users: list, rounds: int = 3) -> list[float]:
    from authflow import tokens
    from portal import permissions

    scopes = permissions.delegated_scopes()
    timings = []
    for _ in range(rounds):
        for user in users:
            began = time.perf_counter()
            tokens.access_token(user, scopes, force_refresh=True)
            timings.append((time.perf_counter() - began) * 1000)
    return timings


def run(args) -> dict:
    from django.db import connection

    from authflow import poller, principals, signins
    from authflow.models import SignIn
    from restore.backup import runner
    from restore.models import RestorePoint

    objects = build_directory(args.groups, args.people)
    signed_in = sign_in_people(
        ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
    )

    def back_up(obj) -> None:  # as a worker would: its own connection
        try:
            runner.run(obj)
        finally:
            connection.close()

    def per_group(obj) -> None:
        try:
            group = principals.ExpectedGroup(str(obj.owner_id), TENANT, obj.name, ())
            signins.start_helpdesk_sign_in(group, started_by=None)
        finally:
            connection.close()

    def per_person(n: int) -> None:  # the same 50 sign-ins, no backup waiting
        try:
            oid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-owner-{n}"))
            person = principals.ExpectedUser(oid, TENANT, f"owner{n:02}@contoso.example", "")
            signins.pending_sign_in_for(person)
        finally:
            connection.close()

    before = refresh_timings(signed_in) if args.refresh_before else []
    began = time.monotonic()
    with ThreadPoolExecutor(args.concurrency) as pool:
        if args.variant == "people-only":
            list(pool.map(per_person, range(args.people)))
        else:
            list(pool.map(back_up if args.variant == "shared" else per_group, objects))
    setup_seconds = time.monotonic() - began
    pending = SignIn.objects.filter(status="pending").count()
    waiting = RestorePoint.objects.filter(status="waiting").count()

    cpu_before, wall_before = time.process_time(), time.monotonic()
    stats = poller.run(max_seconds=args.seconds, threads=args.threads)
    poller_cpu = time.process_time() - cpu_before
    poller_wall = time.monotonic() - wall_before
    refresh = refresh_timings(signed_in)
    result = {
        "variant": args.variant,
        "groups": args.groups,
        "people": args.people,
        "pending_sign_ins": pending,
        "backups_waiting": waiting,
        "seconds_to_start_waiting": round(setup_seconds, 1),
        "ms_per_group_run": round(setup_seconds / args.groups * 1000, 1),
        "poller_seconds": round(poller_wall, 1),
        "poller_token_requests": stats.polls,
        "poller_requests_per_s": round(stats.polls / poller_wall, 1),
        "poller_cpu_ms_per_s": round(poller_cpu / poller_wall * 1000, 1),
        "refresh_p50_ms": round(statistics.median(refresh), 1),
        "refresh_max_ms": round(max(refresh), 1),
        "refreshes": len(refresh),
        **({"refresh_before_p50_ms": round(statistics.median(before), 1)} if before else {}),
        "cores": os.cpu_count(),
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result, indent=2))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--variant", choices=["shared", "per-group", "people-only"], default="shared"
    )
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--people", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--threads", type=int, default=16, help="poller HTTP threads")
    parser.add_argument(
        "--concurrency", type=int, default=8, help="backups (or sign-in starts) at once"
    )
    parser.add_argument("--server-workers", type=int, default=3)
    parser.add_argument(
        "--refresh-before",
        action="store_true",
        help="also time the refreshes before the backups start (refresh_before_p50_ms)",
    )
    args = parser.parse_args()

    port = free_port()
    env = configure(port)
    create_database()
    import django

    django.setup()
    from django.core.cache import cache
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from sandbox import seed
    from sandbox.models import Policy

    seed.reset()
    cache.clear()
    Policy.objects.update(device_code_interval=5, device_code_lifetime=900)
    server = start_server(env, port, args.server_workers)
    try:
        run(args)
    finally:
        stop_server(server)


if __name__ == "__main__":
    main()
