"""Benchmark: every page of the three journeys under concurrent clients, on gunicorn (issue 20).

Runs against a catalog bench/catalog.py loaded (1,000,000 items, 1,000 mailboxes), adds
what the pages need once (an end user owning one of the mailboxes with a restore job,
an admin, a helpdesk person with a sign-in, `--identities` logged-in identities with
~3 KB of token ciphertext each, audit events), starts the production server
(gunicorn with portal/gunicorn_conf.py, as the Procfile and the image do) and has
`--clients` threads each request the journeys' pages in turn, with keep-alive, for
`--seconds`. Prints per-page p50/p95 (ms) as JSON; every answer must be 200.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/lifeboat_catalog_bench \\
        .venv/bin/python bench/pages.py [--clients 8] [--seconds 30] [--identities 50000]

LIFEBOAT_ROOT runs another checkout's code (the paired baseline) with this bench.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(os.environ.get("LIFEBOAT_ROOT") or Path(__file__).resolve().parent.parent)
sys.path.insert(0, str(ROOT))
# And run from there: the settings put the working directory first on the path.
os.chdir(ROOT)
os.environ.setdefault(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/lifeboat_catalog_bench"
)

from bench.device_code_poller import configure, percentile  # noqa: E402

TENANT = uuid.UUID("7d1c0c4e-5a0b-4c84-9a51-2f4b3c6d7e8f")  # bench/catalog.py's
PORT = 8765


def seed(identities: int) -> dict:
    """The people and rows the pages show; created once, found again on later runs."""
    from django.db.models import Count
    from django.utils import timezone

    from authflow.models import Role, SignIn, Tenant, TokenCache, User
    from portal.models import AuditEvent
    from restore.models import (
        Folder,
        Item,
        ProtectedObject,
        RestoreJob,
        RestorePoint,
        RestoreSession,
    )

    now = timezone.now()
    Tenant.objects.get_or_create(
        tenant_id=TENANT, defaults={"display_name": "Contoso (bench)", "status": "active"}
    )
    # The end user owns a mailbox of about the median size (bench/catalog.py skews them).
    sizes = list(
        Item.objects.values("object_id").annotate(n=Count("id")).order_by("n", "object_id")
    )
    mailbox = ProtectedObject.objects.get(pk=sizes[len(sizes) // 2]["object_id"])
    end_user, _ = User.objects.get_or_create(
        username=f"{mailbox.owner_id}.{TENANT}",
        defaults={"oid": mailbox.owner_id, "tenant_id": TENANT, "upn": mailbox.address,
                  "display_name": mailbox.name},
    )  # fmt: skip
    admin, _ = User.objects.get_or_create(
        username="bench-admin", defaults={"upn": "admin@contoso.example", "role": Role.ADMIN}
    )
    helper, _ = User.objects.get_or_create(
        username="bench-helpdesk",
        defaults={"upn": "helpdesk@contoso.example", "role": Role.HELPDESK, "tenant_id": TENANT},
    )
    RestoreSession.objects.filter(user=end_user).delete()
    session = RestoreSession.objects.create(
        user=end_user, expires_at=now + timedelta(days=30), object_ids=[mailbox.pk]
    )
    point = RestorePoint.objects.filter(object=mailbox).order_by("-seq").first()
    inbox = Folder.objects.get(object=mailbox, path="Inbox")
    item = Item.objects.filter(folder=inbox).order_by("-dated_at").first()
    job = RestoreJob.objects.filter(user=end_user).first() or RestoreJob.objects.create(
        user=end_user, session=session, object=mailbox, restore_point=point,
        target=RestoreJob.Target.FOLDER, target_name="Restored", status="succeeded",
        items_total=1, items_done=1,
    )  # fmt: skip
    sign_in = SignIn.objects.filter(started_by=helper).first() or SignIn.objects.create(
        method="device_code", started_by=helper, tenant=str(TENANT), user_code="BENCH123",
        expires_at=now + timedelta(days=30),
    )  # fmt: skip
    have = TokenCache.objects.count()
    if have < identities:
        rng = random.Random(20)
        users = User.objects.bulk_create(
            User(
                username=f"{uuid.uuid5(TENANT, str(n))}.{TENANT}",
                tenant_id=TENANT, upn=f"person{n:06d}@contoso.example",
                display_name=f"Person {n:06d}",
            )
            for n in range(have, identities)
        )  # fmt: skip
        statuses = ["valid"] * 8 + ["needs_sign_in", "revoked"]
        TokenCache.objects.bulk_create(
            TokenCache(
                user=user, ciphertext=rng.randbytes(3_000), status=rng.choice(statuses),
                method=rng.choice(["device_code", "browser"]),
                scopes=["User.Read", "Mail.ReadWrite", "Files.ReadWrite.All", "offline_access"],
                signed_in_at=now - timedelta(minutes=rng.randrange(200_000)),
                access_token_expires_at=now + timedelta(minutes=rng.randrange(-600, 60)),
                refresh_token_renewed_at=now - timedelta(minutes=rng.randrange(100_000)),
                last_used_at=now - timedelta(minutes=rng.randrange(100_000)),
            )
            for user in users
        )  # fmt: skip
    if AuditEvent.objects.count() < 20_000:
        AuditEvent.objects.bulk_create(
            AuditEvent(
                action="sign_in.completed", actor_identity=f"person{n}", actor_label=f"p{n}",
                correlation_id=uuid.uuid4().hex, tenant_id=TENANT,
                occurred_at=now - timedelta(seconds=n),
            )
            for n in range(20_000)
        )  # fmt: skip
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE authflow_tokencache")
        cursor.execute("VACUUM ANALYZE authflow_user")
    return {
        "end_user": end_user, "admin": admin, "helpdesk": helper, "mailbox": mailbox,
        "point": point, "inbox": inbox, "item": item, "job": job, "sign_in": sign_in,
    }  # fmt: skip


def journeys(s: dict) -> dict[str, tuple[str, str]]:
    """page name → (who, path)."""
    from django.urls import reverse

    return {
        "end user: my backups": ("end_user", reverse("restore:my-backups")),
        "end user: folder page": (
            "end_user", f"{reverse('restore:point', args=[s['point'].pk])}?folder={s['inbox'].pk}"
        ),
        "end user: search": ("end_user", f"{reverse('restore:search')}?q=budget"),
        "end user: item": ("end_user", reverse("restore:item", args=[s["item"].pk])),
        "end user: restore form (selection)": ("end_user", reverse("restore:basket")),
        "end user: job page": ("end_user", reverse("restore:job", args=[s["job"].pk])),
        "admin: logged-in users": ("admin", reverse("console:logged-in-users")),
        "admin: audit log": ("admin", reverse("console:audit")),
        "admin: tenants": ("admin", reverse("console:tenants")),
        "helpdesk: sign-ins": ("helpdesk", reverse("helpdesk:home")),
        "floor: healthz": ("admin", "/livez"),
    }  # fmt: skip


def cookie_for(user) -> str:
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}"


def start_server(env: dict[str, str]) -> subprocess.Popen[bytes]:
    # This venv's gunicorn; cwd=ROOT puts that checkout's code first on its path.
    command = [str(Path(sys.executable).parent / "gunicorn"), "portal.wsgi", "--config",
               "portal/gunicorn_conf.py"]  # fmt: skip
    server_env = {**os.environ, **env, "GUNICORN_BIND": f"127.0.0.1:{PORT}"}
    server = subprocess.Popen(command, cwd=ROOT, env=server_env)
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", PORT), timeout=0.2):
                return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("gunicorn did not start")


def load(pages: dict, cookies: dict, clients: int, seconds: float) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in pages}
    failures: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(index: int) -> None:
        names = list(pages)
        random.Random(index).shuffle(names)
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        turn = 0
        while time.monotonic() < deadline:
            name = names[turn % len(names)]
            turn += 1
            who, path = pages[name]
            started = time.perf_counter()
            conn.request("GET", path, headers={"Cookie": cookies[who], "Host": "127.0.0.1"})
            response = conn.getresponse()
            response.read()
            millis = (time.perf_counter() - started) * 1000
            with lock:
                if response.status != 200:
                    failures.append(f"{name}: {response.status}")
                samples[name].append(millis)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"pages failed: {sorted(set(failures))[:10]}")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--identities", type=int, default=50_000)
    args = parser.parse_args()

    env = configure(PORT)
    env["ALLOWED_HOSTS"] = "127.0.0.1,localhost"
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    seeded = seed(args.identities)
    cookies = {who: cookie_for(seeded[who]) for who in ("end_user", "admin", "helpdesk")}
    pages = journeys(seeded)
    server = start_server(env)
    try:
        load(pages, cookies, 2, 3)  # warm: each worker's first requests import and connect
        load_before = os.getloadavg()
        samples = load(pages, cookies, args.clients, args.seconds)
        load_after = os.getloadavg()
    finally:
        server.terminate()
        server.wait(timeout=30)
    report: dict = {
        "code": str(ROOT),
        "clients": args.clients,
        "seconds": args.seconds,
        "identities": args.identities,
        "load_before": load_before,
        "load_after": load_after,
    }
    for name, values in samples.items():
        report[f"{name} p50_ms"] = round(statistics.median(values), 1)
        report[f"{name} p95_ms"] = round(percentile(values, 95), 1)
        report[f"{name} n"] = len(values)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
