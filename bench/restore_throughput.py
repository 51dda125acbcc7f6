"""Benchmark: restoring messages into one mailbox against Outlook's throttling.

Issue 20 sets the target: at least 0.9 of whichever of Outlook's limits binds. Per app
and mailbox Outlook allows 4 requests at once, 10,000 requests in any 10 minutes and
150 MB of uploads in any 5 minutes; the sandbox enforces all three with sliding windows
(sandbox/graph/throttling.py). To finish in minutes the bench keeps both rates and
shrinks the windows tenfold: 1,000 requests per 60 s (16.7 requests/s) and 15 MiB per
30 s (0.5 MiB/s).

`--mix realistic` (the default) restores messages of real sizes: most plain, some with
attachments under 3 MB (sent inside the create), some of 3 to 10 MB and a few of 10 to
25 MB (upload sessions of 4 MB ranges); sizes come from a fixed seed, so every run
restores the same bytes. `--mix plain` restores small text messages (the old bench).

What a run could not beat, from an empty window, is the lower bound of each limit:

    bound (s) = (ceil(used / limit) - 1) * window

with `used` the requests (each inside a `$batch` counted) or the uploaded bytes (bodies
of PATCH, POST and PUT, as counted at the client) that the restore needed, 429s left
out. The binding limit is the larger bound, and `ratio_to_ceiling` = bound / seconds
taken: at most 1, whatever N, and no run can gain by where it starts (the windows
slide). `ratio_to_steady_rate` compares the rate after the first window's free burst
with the limit's rate: (used / limit - 1) * window / seconds, a little lower for short
runs. The runner paces its uploads to the same budget (RESTORE_UPLOAD_BYTES_PER_WINDOW per
RESTORE_UPLOAD_WINDOW_SECONDS, set to the shrunk figures); `--no-pacing` turns that off,
leaving the runner to Graph's 429s and Retry-After (the baseline).
`--unthrottled` switches the sandbox's limits off: what the runner does on this
machine when nothing holds it back (where the CPU binds).

What runs is the product: `restore.jobs.lifecycle.create_job` through the person's
`Scope`, then the task `restore.tasks.run_restore_job` inline (as a worker would), with
alice's delegated token from a real device-code sign-in. The catalog (MIME in a
temporary blob store) is written directly, as a backup would have.

Usage (PostgreSQL and Redis as for the tests; it uses its own database):

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/lifeboat_catbench \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/8 \\
        .venv/bin/python bench/restore_throughput.py [--messages 41] [--mix realistic] \\
        [--window-requests 1000 --window-seconds 60] \\
        [--upload-mib 15 --upload-window-seconds 30] [--collision skip|keep-both] \\
        [--unthrottled] [--no-pacing]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/lifeboat_restore_bench"
)

from bench import s3_server  # noqa: E402
from bench.device_code_poller import (  # noqa: E402
    configure,
    create_database,
    free_port,
    start_server,
)

ALIAS = "alice"


def product_code():
    """The restore job runner, or a message saying it has not landed on this branch yet."""
    try:
        from restore.jobs.lifecycle import create_job
        from restore.jobs.tasks import run_restore_job
    except ImportError as error:
        sys.exit(
            f"The restore job runner is not on this branch yet ({error}): merge main once "
            "restore/jobs/ and restore.tasks.run_restore_job have landed, then run again."
        )
    return create_job, run_restore_job


def sign_in(alias: str):
    """A device-code sign-in as a person would do it, approved in the sandbox."""
    import io

    from django.core.management import call_command

    from authflow import poller, signins
    from authflow.models import SignIn
    from sandbox.seed import person

    attempt = signins.start_device_sign_in()
    call_command(
        "sandbox", "approve", "--code", attempt.user_code, "--user", person(alias).upn,
        stdout=io.StringIO(),
    )  # fmt: skip
    for _ in range(20):
        if attempt.status != SignIn.Status.PENDING:
            break
        poller.run(max_seconds=1.5, threads=2)
        attempt.refresh_from_db()
    if attempt.status != SignIn.Status.COMPLETED:
        raise RuntimeError(f"Sign-in of {alias} did not complete: {attempt.message}")
    return attempt.result_user


MIB = 1024 * 1024


def message_shapes(count: int, mix: str, seed: int = 20) -> list[tuple[int, int]]:
    """(body characters, attachment bytes; 0 for none) of each message of the run."""
    if mix == "plain":
        return [(1_700, 0)] * count
    rng = random.Random(seed)
    shapes = []
    for _ in range(count):
        body, roll = rng.randint(1_000, 40_000), rng.random()
        if roll < 0.6:
            attachment = 0
        elif roll < 0.85:
            attachment = rng.randint(50_000, 2_200_000)  # sent inside the create
        elif roll < 0.95:
            attachment = rng.randint(3 * MIB, 10 * MIB)  # an upload session
        else:
            attachment = rng.randint(10 * MIB, 25 * MIB)
        shapes.append((body, attachment))
    return shapes


def back_up_messages(alias: str, count: int, mix: str = "plain"):
    """What a backup of `count` messages in the Inbox would have written."""
    from django.utils import timezone

    from restore.blobs import blob_store
    from restore.models import EntityKind, Folder, Item, ProtectedObject, RestorePoint, Workload
    from sandbox.models import DirectoryUser

    owner = DirectoryUser.objects.get(user_principal_name__startswith=f"{alias}@")
    obj = ProtectedObject.objects.create(
        tenant_id=owner.tenant_id,
        workload=Workload.MAIL,
        entity=EntityKind.USER,
        owner_id=owner.id,
        name=owner.display_name,
        address=owner.user_principal_name,
    )
    now = timezone.now()
    point = RestorePoint.objects.create(
        object=obj, seq=1, status=RestorePoint.Status.SUCCEEDED, started_at=now, finished_at=now
    )
    inbox = Folder.objects.create(
        object=obj,
        graph_id="bench-inbox",
        name="Inbox",
        path="Inbox",
        well_known="inbox",
        first_seq=1,
    )
    sender = {"emailAddress": {"name": "Bob Example", "address": "bob@partner.example"}}
    me = {"emailAddress": {"name": owner.display_name, "address": owner.user_principal_name}}
    items = []
    rng = random.Random(7)
    for n, (body_size, attachment_size) in enumerate(message_shapes(count, mix)):
        received = now - timedelta(minutes=17 * n)
        message_id = make_msgid(f"bench{n}", "partner.example")
        mime = EmailMessage()
        mime["From"] = "Bob Example <bob@partner.example>"
        mime["To"] = f"{owner.display_name} <{owner.user_principal_name}>"
        mime["Subject"] = f"Benchmark message {n}"
        mime["Date"] = format_datetime(received)
        mime["Message-ID"] = message_id
        body = f"Message {n} of the restore benchmark.\n" + "Lorem ipsum dolor sit amet. " * (
            body_size // 28
        )
        mime.set_content(body)
        if attachment_size:
            mime.add_attachment(
                rng.randbytes(attachment_size),
                maintype="application",
                subtype="octet-stream",
                filename=f"attachment-{n}.bin",
            )
        sha, size, _ = blob_store().put_bytes(mime.as_bytes(), tenant=str(obj.tenant_id))
        items.append(
            Item(
                object=obj,
                folder=inbox,
                graph_id=f"bench-message-{n}",
                kind=Item.Kind.MESSAGE,
                first_seq=1,
                name=mime["Subject"],
                sender="Bob Example <bob@partner.example>",
                recipients=mime["To"],
                sent_at=received,
                dated_at=received,
                size=size,
                is_read=n % 3 != 0,
                content_sha256=sha,
                body_text=body[:300],
                meta={
                    "internetMessageId": message_id,
                    "from": sender,
                    "toRecipients": [me],
                    "receivedDateTime": received.isoformat(),
                    "sentDateTime": received.isoformat(),
                    "isRead": n % 3 != 0,
                },
            )
        )
    Item.objects.bulk_create(items, batch_size=1000)
    return point


class ClientCount:
    """Graph requests as the product sent them, counted at the HTTP adapter (this process
    runs the job): HTTP requests by status and kind, and the requests inside `$batch`es,
    which Outlook counts one by one against a mailbox's limit, and the bytes uploaded by
    the successful PATCH, POST and PUT requests (Outlook's upload budget)."""

    def __init__(self) -> None:
        import threading

        import requests.adapters

        self.by_status: Counter[str] = Counter()
        self.by_kind: Counter[str] = Counter()
        self.inner = 0
        self.uploaded = 0
        self.uploads: list[int] = []  # sizes of the uploads, in the order they went
        self._lock = threading.Lock()
        original = requests.adapters.HTTPAdapter.send
        counter = self

        def send(adapter: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            response = original(adapter, request, *args, **kwargs)
            if "/sandbox/graph/" in (request.url or ""):
                counter.record(request, response.status_code)
            return response

        setattr(requests.adapters.HTTPAdapter, "send", send)  # noqa: B010

    @staticmethod
    def kind(request: Any) -> str:
        """Method and last path segment (`POST messages`); an id as `{id}`; the upload
        and download URLs (outside Graph's `/v1.0/`) by what they are."""
        path = request.url.split("?", 1)[0].rstrip("/")
        for url in ("attachment-upload", "upload", "download"):
            if f"/sandbox/graph/{url}/" in path:
                return f"{request.method} {url}-url"
        last = path.rsplit("/", 1)[-1]
        return f"{request.method} {'{id}' if len(last) > 40 else last}"

    def record(self, request: Any, status: int) -> None:
        path = request.url.split("?", 1)[0].rstrip("/")
        last = path.rsplit("/", 1)[-1]
        kind = self.kind(request)
        inner = 0
        if last == "$batch" and request.body:
            inner = len(json.loads(request.body).get("requests", []))
        uploaded = 0
        if status < 400 and request.method in ("PATCH", "POST", "PUT") and last != "$batch":
            uploaded = len(request.body or b"")  # what Outlook's upload budget counts
        with self._lock:
            self.by_status[str(status)] += 1
            self.by_kind[kind] += 1
            self.inner += inner
            self.uploaded += uploaded
            if uploaded:
                self.uploads.append(uploaded)


def bound(used: int, limit: int, window: float) -> tuple[float, float]:
    """The least time `used` takes under `limit` per sliding `window`, from an empty
    window (exact, and the fluid one that spreads the first window's burst)."""
    if used <= limit:
        return 0.0, 0.0
    return (math.ceil(used / limit) - 1) * window, (used / limit - 1) * window


def in_order_bound(sizes: list[int], limit: int, window: float) -> float:
    """When the last of these uploads could go, sent in this order by a client with no
    other delay, under `limit` bytes per sliding `window`: each waits for the oldest to
    leave until it fits. Requests are indivisible, so a window's last few MB can stay
    unused; a client free to reorder could sometimes fill them, so this is not a strict
    lower bound, but no run sending these requests in this order can do better."""
    sent: list[tuple[float, int]] = []
    now = 0.0
    for size in sizes:
        while True:
            live = [(at, n) for at, n in sent if at > now - window]
            used = sum(n for _, n in live)
            if not used or used + size <= limit:
                sent.append((now, size))
                break
            need, freed = used + size - limit, 0
            for at, n in live:
                freed += n
                if freed >= need:
                    now = at + window
                    break
    return now


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=41)
    parser.add_argument("--mix", choices=("realistic", "plain"), default="realistic")
    parser.add_argument("--window-requests", type=int, default=1_000)
    parser.add_argument("--window-seconds", type=int, default=60)
    parser.add_argument("--upload-mib", type=float, default=15)
    parser.add_argument("--upload-window-seconds", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=4, help="sandbox's per mailbox")
    parser.add_argument("--collision", choices=("skip", "keep-both"), default="skip")
    parser.add_argument("--server-workers", type=int, default=3)
    parser.add_argument("--unthrottled", action="store_true", help="the sandbox's limits off")
    parser.add_argument(
        "--no-pacing", action="store_true", help="the runner meets 429s instead of pacing"
    )
    parser.add_argument(
        "--store", choices=("file", "s3"), default="file", help="s3: a local moto server"
    )
    args = parser.parse_args()

    port = free_port()
    env = configure(port)
    work = Path(tempfile.mkdtemp(prefix="lifeboat-restore-bench-"))
    env["BLOB_ROOT"] = str(work / "blobs")
    os.environ.pop("BLOB_STORE_URL", None)  # the file store is BLOB_ROOT here
    s3 = s3_server.start(env) if args.store == "s3" else None
    env["RESTORE_CONCURRENCY_PER_MAILBOX"] = str(args.concurrency)
    # The runner paces its uploads to the budget it is told (Outlook's, shrunk as above).
    upload_limit = int(args.upload_mib * MIB)
    paced = not (args.no_pacing or args.unthrottled)  # unthrottled: nothing holds it back
    env["RESTORE_UPLOAD_BYTES_PER_WINDOW"] = str(upload_limit) if paced else "0"
    env["RESTORE_UPLOAD_WINDOW_SECONDS"] = str(args.upload_window_seconds)
    os.environ.update(env)
    create_database()
    import django

    django.setup()
    create_job, run_restore_job = product_code()
    from django.core.cache import cache
    from django.core.management import call_command

    from restore.models import Item, RestoreJob
    from restore.scope import Scope
    from sandbox import seed
    from sandbox.models import MailFolder, Message, Policy

    call_command("migrate", verbosity=0)
    seed.reset()
    cache.clear()
    Policy.current()
    Policy.objects.update(
        device_code_interval=1,
        throttling_enabled=not args.unthrottled,
        mailbox_concurrency=args.concurrency,
        mailbox_requests_per_window=args.window_requests,
        mailbox_window_seconds=args.window_seconds,
        mailbox_upload_bytes_per_window=upload_limit,
        mailbox_upload_window_seconds=args.upload_window_seconds,
    )
    server = start_server(env, port, args.server_workers)
    try:
        user = sign_in(ALIAS)
        point = back_up_messages(ALIAS, args.messages, args.mix)
        scope = Scope.for_user(user)
        item_ids = list(Item.objects.filter(object=point.object).values_list("id", flat=True))
        job = create_job(
            scope, point, item_ids, [], RestoreJob.Target.FOLDER, "Benchmark restore",
            args.collision,
        )  # fmt: skip
        cache.clear()  # the sign-in's requests are not the restore's
        client = ClientCount()
        load_before = os.getloadavg()
        cpu_before = os.times()
        started = time.monotonic()
        run_restore_job(str(job.pk))
        elapsed = time.monotonic() - started
        cpu_after = os.times()
        job.refresh_from_db()
        target = MailFolder.objects.get(display_name="Benchmark restore")
        in_mailbox = Message.objects.filter(folder__parent=target).count()
        requests, kinds = client.by_status, client.by_kind
        served = sum(n for status, n in requests.items() if status != "429")
        batches = sum(n for kind, n in kinds.items() if kind.endswith("$batch"))
        # Each request inside a $batch is one operation for Outlook's limits.
        operations = served - batches + client.inner
        if not served or not job.items_done:
            log = list(job.log.values_list("message", flat=True))
            sys.exit(f"Nothing restored or no Graph request logged: {job.status}, {log[-3:]}")
        request_bound, request_fluid = bound(operations, args.window_requests, args.window_seconds)
        upload_bound, upload_fluid = bound(
            client.uploaded, upload_limit, args.upload_window_seconds
        )
        binding = "upload" if upload_bound >= request_bound else "requests"
        least = max(upload_bound, request_bound)
        fluid = upload_fluid if binding == "upload" else request_fluid
        steady_rate_items = (
            upload_limit / args.upload_window_seconds / (client.uploaded / job.items_done)
            if binding == "upload"
            else args.window_requests / args.window_seconds / (operations / job.items_done)
        )
        result = {
            "messages": args.messages,
            "mix": args.mix,
            "collision": args.collision,
            "throttled": not args.unthrottled,
            "paced": paced,
            "limits": {
                "concurrent_per_mailbox": args.concurrency,
                "requests_per_window": args.window_requests,
                "request_window_s": args.window_seconds,
                "upload_bytes_per_window": upload_limit,
                "upload_window_s": args.upload_window_seconds,
            },
            "job_status": job.status,
            "restored": job.items_done,
            "skipped": job.items_skipped,
            "failed": job.items_failed,
            "messages_in_target_folder": in_mailbox,
            "seconds": round(elapsed, 1),
            "graph_requests_by_status": dict(sorted(requests.items())),
            "graph_requests_by_kind": dict(sorted(kinds.items())),
            "requests_inside_batches": client.inner,
            "operations": operations,
            "operations_per_message": round(operations / job.items_done, 3),
            "requests_per_message_with_429s": round(sum(requests.values()) / job.items_done, 3),
            "uploaded_mib": round(client.uploaded / MIB, 1),
            "uploaded_mib_per_message": round(client.uploaded / MIB / job.items_done, 3),
            "achieved_messages_per_s": round(job.items_done / elapsed, 3),
            "achieved_upload_mib_per_s": round(client.uploaded / MIB / elapsed, 3),
            "achieved_requests_per_s": round(operations / elapsed, 2),
            "steady_ceiling_messages_per_s": round(steady_rate_items, 3),
            "binding_limit": binding,
            "request_bound_s": request_bound,
            "upload_bound_s": upload_bound,
            "ratio_to_ceiling": round(least / elapsed, 3),
            "ratio_to_steady_rate": round(fluid / elapsed, 3),
            "in_order_upload_bound_s": round(
                in_order_bound(client.uploads, upload_limit, args.upload_window_seconds), 1
            ),
            "target_ratio": 0.9,
            "bench_cpu_s": round(
                cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system, 1
            ),
            "load_1min_before": round(load_before[0], 2),
            "load_1min_after": round(os.getloadavg()[0], 2),
            "store": args.store,
            "code": str(Path(sys.modules["restore"].__file__).parent.parent),
        }
        print(json.dumps(result, indent=2))
    finally:
        server.terminate()
        server.wait(20)
        if s3 is not None:
            s3.terminate()


if __name__ == "__main__":
    main()
