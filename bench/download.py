"""Benchmark: a 2 GB download as a zip, throughput and the web server's memory (issue 6).

Target: flat memory, i.e. the serving process's peak RSS does not grow with the download.

It writes `--size` MB of backed-up content into a temporary blob store (`--item-mb` per
item; half of the items random bytes, like photos or Office files, half text, like mail),
creates a download job through the product (`restore.jobs.lifecycle.create_job`, target download)
and fetches it from a real gunicorn (one worker process) over HTTP with the person's
session cookie, reading the stream 1 MiB at a time. The worker's RSS is sampled every
50 ms during the download and its high-water mark (VmHWM, reset just before) read after.

Usage (PostgreSQL as for the tests; it uses its own database):

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/lifeboat_catbench \\
        .venv/bin/python bench/download.py [--size 2048] [--item-mb 1] [--verify]

--verify keeps the zip on disk and checks every entry's CRC (slower, needs the space).

Baseline in the same run, on the same content (issue 20: a download ≥ 70% of zipfile's
own speed): Python's zipfile alone streams the same items, read 1 MiB at a time from
plaintext copies on disk, with the product's compression policy (restore.jobs.downloads:
which entries it stores, deflate level 1), into a sink that only counts bytes: no HTTP,
no Django, no decryption. The page cache is dropped before the baseline and before the
download when this runs as root (`caches_dropped` says whether it was), so neither reads
only from memory. `vs_zipfile` = download speed / zipfile's.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/lifeboat_download_bench"
)

from bench import s3_server  # noqa: E402
from bench.device_code_poller import (  # noqa: E402
    configure,
    create_database,
    free_port,
    start_server,
)

MB = 1024 * 1024
WORDS = "budget meeting report review project team update customer invoice the and of to in"


def product_code():
    """The download job and its streaming view, or a message saying they have not landed."""
    from django.urls import NoReverseMatch, reverse

    try:
        from restore.jobs.lifecycle import create_job

        reverse("restore:job-download", args=[uuid.uuid4()])
    except (ImportError, NoReverseMatch) as error:
        sys.exit(
            f"Download jobs are not on this branch yet ({error}): merge main once "
            "restore/jobs/ and the job download view have landed, then run again."
        )
    return create_job


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


def worker_pid(master: int) -> int:
    for _ in range(100):
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("gunicorn started no worker")


def drop_caches() -> bool:
    """Write dirty pages and drop the page cache (root only); False where not allowed."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3")
    except OSError:
        return False
    return True


class CountingSink:
    """An unseekable file that keeps nothing: what a socket is to zipfile."""

    def __init__(self) -> None:
        self.position = 0

    def write(self, data: bytes, /) -> int:
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def zipfile_alone(files: list[tuple[Path, str]]) -> tuple[float, int]:
    """Seconds for zipfile to stream `files` (path, entry name) with the download's
    compression policy (which entries it stores, and its deflate level), and the zip's size."""
    from restore.jobs import downloads

    level = getattr(downloads, "COMPRESS_LEVEL", 1)  # older code: level 1 meant, not applied
    sink = CountingSink()
    started = time.monotonic()
    with zipfile.ZipFile(sink, "w") as archive:
        for path, name in files:
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = downloads._compression(name)
            if info.compress_type == zipfile.ZIP_DEFLATED:
                info.compress_level = level
            with path.open("rb") as source, archive.open(info, "w", force_zip64=True) as entry:
                while chunk := source.read(MB):
                    entry.write(chunk)
    return time.monotonic() - started, sink.position


def back_up_files(user, total_mb: int, item_mb: float, seed: int, plain: Path):
    """A OneDrive backup of `total_mb` MB in items of `item_mb` MB, in the blob store."""
    from django.utils import timezone

    from restore.blobs import blob_store
    from restore.models import EntityKind, Folder, Item, ProtectedObject, RestorePoint, Workload

    rng = random.Random(seed)
    obj = ProtectedObject.objects.create(
        tenant_id=user.tenant_id,
        workload=Workload.ONEDRIVE,
        entity=EntityKind.USER,
        owner_id=user.oid,
        name="Bench Person",
        address="bench.person@contoso.example",
        graph_ref="bench-drive",
    )
    now = timezone.now()
    point = RestorePoint.objects.create(
        object=obj, seq=1, status=RestorePoint.Status.SUCCEEDED, started_at=now, finished_at=now
    )
    folders = [
        Folder.objects.create(
            object=obj, graph_id=f"bench-folder-{n}", name=name, path=name, first_seq=1
        )
        for n, name in enumerate(("Documents", "Pictures", "Projects", "Archive"))
    ]
    size = int(item_mb * MB)
    count = max(1, int(total_mb * MB // size))
    text = " ".join(rng.choices(WORDS.split(), k=size // 5)).encode()[:size]
    items = []
    for n in range(count):
        random_bytes = n % 2 == 0
        # Text items differ by a prefix, so the store keeps each one (it dedupes by hash).
        data = os.urandom(size) if random_bytes else f"{n:08d} ".encode() + text[9:]
        sha, stored, _ = blob_store().put_bytes(data, tenant=str(obj.tenant_id))
        (plain / f"{n:05d}").write_bytes(data)  # zipfile's baseline reads these
        items.append(
            Item(
                object=obj,
                folder=folders[n % len(folders)],
                graph_id=f"bench-file-{n}",
                kind=Item.Kind.FILE,
                first_seq=1,
                name=f"file-{n:05d}.{'jpg' if random_bytes else 'txt'}",  # photos, notes
                dated_at=now,
                size=stored,
                content_sha256=sha,
                meta={"mimeType": "application/octet-stream" if random_bytes else "text/plain"},
            )
        )
    Item.objects.bulk_create(items, batch_size=1000)
    return point, count


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=2048, help="MB of content")
    parser.add_argument("--item-mb", type=float, default=1.0)
    parser.add_argument("--verify", action="store_true")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument(
        "--store", choices=("file", "s3"), default="file", help="s3: a local moto server"
    )
    args = parser.parse_args()

    port = free_port()
    env = configure(port)
    work = Path(tempfile.mkdtemp(prefix="lifeboat-download-bench-"))
    env["BLOB_ROOT"] = str(work / "blobs")
    os.environ.pop("BLOB_STORE_URL", None)  # the file store is BLOB_ROOT here
    s3 = s3_server.start(env) if args.store == "s3" else None
    os.environ.update(env)
    create_database()
    import django

    django.setup()
    create_job = product_code()
    import requests
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client
    from django.urls import reverse

    from authflow.models import User
    from restore.models import Item, RestoreJob
    from restore.scope import Scope

    call_command("migrate", verbosity=0)
    user = User.objects.create(
        username="bench-download",
        oid=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        upn="bench.person@contoso.example",
        display_name="Bench Person",
    )
    at = time.monotonic()
    plain = work / "plain"
    plain.mkdir()
    point, count = back_up_files(user, args.size, args.item_mb, args.seed, plain)
    print(f"{count} items written in {time.monotonic() - at:.0f} s", file=sys.stderr)
    items = Item.objects.filter(object=point.object).select_related("folder")
    files = [
        (
            plain / item.graph_id.removeprefix("bench-file-").zfill(5),
            f"{item.folder.path}/{item.name}",
        )
        for item in items.order_by("folder__path", "dated_at", "id")
    ]
    caches_dropped = drop_caches()
    baseline_seconds, baseline_zip = zipfile_alone(files)
    item_ids = list(Item.objects.filter(object=point.object).values_list("id", flat=True))
    job = create_job(Scope.for_user(user), point, item_ids, [], RestoreJob.Target.DOWNLOAD)
    warm_up = create_job(Scope.for_user(user), point, item_ids[:1], [], RestoreJob.Target.DOWNLOAD)
    client = Client()
    client.force_login(user)
    cookies = {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}

    server = start_server(env, port, workers=1)
    try:
        worker = worker_pid(server.pid)
        base = f"http://127.0.0.1:{port}"
        # Warm the worker up (imports, templates, connections, and the blob store's client:
        # boto3 takes most of a second to build one, once per process) before the baseline.
        requests.get(f"{base}{reverse('restore:job', args=[job.pk])}", cookies=cookies, timeout=60)
        warm_url = f"{base}{reverse('restore:job-download', args=[warm_up.pk])}"
        requests.get(warm_url, cookies=cookies, timeout=60).raise_for_status()
        drop_caches()
        before_kb = rss_kb(worker)
        Path(f"/proc/{worker}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        samples: list[int] = []
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.05):
                samples.append(rss_kb(worker))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        received = 0
        zip_path = work / "download.zip"
        sink = zip_path.open("wb") if args.verify else None
        cpu_before = cpu_seconds(worker), cpu_seconds(s3.pid) if s3 else 0.0
        started = time.monotonic()
        first_byte = None
        url = f"{base}{reverse('restore:job-download', args=[job.pk])}"
        with requests.get(url, cookies=cookies, stream=True, timeout=60) as answer:
            answer.raise_for_status()
            for chunk in answer.iter_content(MB):
                if first_byte is None:
                    first_byte = time.monotonic() - started
                received += len(chunk)
                if sink:
                    sink.write(chunk)
        elapsed = time.monotonic() - started
        worker_cpu = cpu_seconds(worker) - cpu_before[0]
        s3_cpu = cpu_seconds(s3.pid) - cpu_before[1] if s3 else 0.0
        done.set()
        sampler.join()
        peak_kb = rss_kb(worker, "VmHWM")
        if sink:
            sink.close()
            with zipfile.ZipFile(zip_path) as archive:
                entries = len(archive.namelist())
                bad = archive.testzip()
        job.refresh_from_db()
        content_mb = count * int(args.item_mb * MB) / MB
        result = {
            "items": count,
            "content_mb": round(content_mb),
            "zip_mb": round(received / MB),
            "seconds": round(elapsed, 1),
            "first_byte_s": round(first_byte or 0, 2),
            "content_mb_per_s": round(content_mb / elapsed, 1),
            "zip_mb_per_s": round(received / MB / elapsed, 1),
            "worker_rss_before_mb": round(before_kb / 1024, 1),
            "worker_rss_max_sampled_mb": round(max(samples, default=before_kb) / 1024, 1),
            "worker_peak_rss_mb": round(peak_kb / 1024, 1),
            "peak_minus_before_mb": round((peak_kb - before_kb) / 1024, 1),
            # CPU seconds per GB of content: the web worker's, and the S3 server's (the storage
            # provider's side in production, here on the same two cores).
            "worker_cpu_s_per_gb": round(worker_cpu / content_mb * 1024, 1),
            "s3_server_cpu_s_per_gb": round(s3_cpu / content_mb * 1024, 1),
            "zipfile_content_mb_per_s": round(content_mb / baseline_seconds, 1),
            "zipfile_zip_mb": round(baseline_zip / MB),
            "vs_zipfile": round(baseline_seconds / elapsed, 2),
            "caches_dropped": caches_dropped,
            "job_status": job.status,
            "job_items_done": job.items_done,
            "store": args.store,
        }
        if args.verify:
            result["zip_entries"] = entries
            result["zip_crc_ok"] = bad is None
        print(json.dumps(result, indent=2))
    finally:
        server.terminate()
        server.wait(20)
        shutil.rmtree(work, ignore_errors=True)
        if s3 is not None:
            s3.terminate()


if __name__ == "__main__":
    main()
