"""Benchmark: an incremental backup of a 100,000-file SharePoint library, nothing changed
(issue 22: the target is at most 2 s).

What runs is the product: `restore.backup.runner.run` on the "Projects / Documents"
library that `restore.backup.discovery.discover` found in the sandbox, over HTTP to the
sandbox served by gunicorn (as in production, through MICROSOFT_ROUTES). Restore point 1
is written directly as a full backup would have left it: `--files` file states (in 100
folders, one shared blob) and the library's delta link, taken from Graph with
`root/delta?token=latest`. Each measured run then continues from the latest point's
link: Graph answers "no changes", and the runner still loads the library's current
states, applies nothing and commits a new point. The sandbox's own drive holds only its
seeded files (a delta round with no changes costs it the same whatever the size).

Usage (PostgreSQL and Redis as for the tests; its own database, dropped and re-created):

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/lifeboat_sp_bench \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/8 \\
        .venv/bin/python bench/sharepoint_incremental.py [--files 100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/lifeboat_sp_bench")

from bench.device_code_poller import (  # noqa: E402
    configure,
    create_database,
    free_port,
    start_server,
)

LIBRARY = "Projects / Documents"
FOLDERS = 100


def write_first_point(obj, files: int) -> None:
    """Restore point 1 of the library as a full backup of `files` files leaves it."""
    from django.utils import timezone

    from authflow import tokens
    from restore.blobs import blob_store
    from restore.models import Folder, Item, RestorePoint

    graph = tokens.graph_as_app(str(obj.tenant_id))
    latest = graph.get(f"drives/{obj.graph_ref}/root/delta?token=latest")
    link = latest["@odata.deltaLink"]
    now = timezone.now()
    RestorePoint.objects.create(
        object=obj, seq=1, status=RestorePoint.Status.SUCCEEDED, started_at=now,
        finished_at=now, items_added=files, delta_state={"drive": link},
    )  # fmt: skip
    sha, size, _ = blob_store().put_bytes(b"benchmark file\n" * 20, tenant=str(obj.tenant_id))
    root = Folder.objects.create(
        object=obj, graph_id="bench-root", name="root", path="", well_known="root", first_seq=1
    )
    folders = Folder.objects.bulk_create(
        Folder(object=obj, graph_id=f"bench-folder-{n}", parent_graph_id=root.graph_id,
               name=f"Folder {n}", path=f"Folder {n}", first_seq=1)
        for n in range(FOLDERS)
    )  # fmt: skip
    batch: list[Item] = []
    for n in range(files):
        etag = f'"{{{n:08d}-0000-0000-0000-000000000000}},1"'
        batch.append(
            Item(
                object=obj, folder=folders[n % FOLDERS], graph_id=f"bench-file-{n}",
                kind=Item.Kind.FILE, first_seq=1, name=f"Document {n}.docx",
                sender="Carol Diaz", dated_at=now - timedelta(minutes=n), size=size,
                content_sha256=sha,
                meta={"backup_version": etag, "content_version": f"hash{n}", "eTag": etag},
            )
        )  # fmt: skip
        if len(batch) == 5000:
            Item.objects.bulk_create(batch)
            batch = []
    Item.objects.bulk_create(batch)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--server-workers", type=int, default=2)
    args = parser.parse_args()

    port = free_port()
    env = configure(port)
    work = Path(tempfile.mkdtemp(prefix="lifeboat-sp-bench-"))
    env["BLOB_ROOT"] = str(work / "blobs")
    os.environ.pop("BLOB_STORE_URL", None)
    os.environ.update(env)
    create_database()
    import django

    django.setup()
    from django.core.management import call_command

    from restore.backup import discovery, runner
    from restore.models import Item, ProtectedObject, RestorePoint
    from sandbox import seed

    call_command("migrate", verbosity=0)
    seed.reset()
    server = start_server(env, port, args.server_workers)
    try:
        discovery.discover()
        obj = ProtectedObject.objects.get(name=LIBRARY)
        loaded = time.monotonic()
        write_first_point(obj, args.files)
        load_s = time.monotonic() - loaded
        seconds = []
        for _ in range(args.runs):
            started = time.monotonic()
            point = runner.run(obj).point
            seconds.append(time.monotonic() - started)
            if point.status != RestorePoint.Status.SUCCEEDED:
                sys.exit(f"The incremental backup failed: {point.error}")
        live = Item.objects.filter(object=obj, last_seq__isnull=True).count()
        result = {
            "files": args.files,
            "live_files_after": live,
            "runs_s": [round(s, 3) for s in seconds],
            "median_s": round(statistics.median(seconds), 3),
            "range_s": [round(min(seconds), 3), round(max(seconds), 3)],
            "target_s": 2.0,
            "met": statistics.median(seconds) <= 2.0,
            "catalog_load_s": round(load_s, 1),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }
        print(json.dumps(result, indent=2))
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
