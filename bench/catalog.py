"""Benchmark: the catalog at 1,000,000 items across 1,000 mailboxes (issue 6).

Loads a fresh PostgreSQL database (migrated by the product's migrations, so it has exactly
the product's indexes) with 1,000 mailboxes, 3 restore points each, 10 folders each and
`--items` Item states with generated text, then times the product's own code paths:

- folder page: `restore.catalog.browse.page` over `Scope.items(point)` of one folder, newest
  first, the first page and a deep keyset page (as restore/catalog/views.point_detail);
- search: `browse.page` over `restore.catalog.search.matching(Scope.items(), text)`, newest first,
  first page (as restore/catalog/views.search_view), for
  common words, medium words, rare words, two words, a phrase, and a word with a date
  range; for a user scoped to their one mailbox and an operator scoped to 100 mailboxes.

Text: a 30,000-word vocabulary (about 250 real words, then made-up pronounceable ones)
drawn with a Zipf distribution (s = 1.0), so a common word is in 5-15% of all items and
a rare one in a few hundred; one item in three carries a stock sentence (for phrases).
Mailbox sizes are skewed too (a few mailboxes hold tens of thousands of items).

Usage (its own database; PostgreSQL as for the tests):

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/lifeboat_catbench \\
        .venv/bin/python bench/catalog.py [--items 1000000] [--samples 200] [--reuse]

--reuse skips the load when the database already holds the catalog (re-measure after a
code change). Results are warm-cache: the machine has RAM to spare for the whole table.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import itertools
import json
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

# LIFEBOAT_ROOT: measure another checkout's code (the paired baseline) with this bench.
ROOT = Path(os.environ.get("LIFEBOAT_ROOT") or Path(__file__).resolve().parent.parent)
sys.path.insert(0, str(ROOT))
# And run from there: the settings put the working directory first on the path.
os.chdir(ROOT)
# Never fall back on another benchmark's database: this one drops and re-creates it.
os.environ.setdefault(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/lifeboat_catalog_bench"
)

from bench.device_code_poller import configure, create_database, percentile  # noqa: E402
from sandbox.generator import (  # noqa: E402
    EPOCH,
    FOLDER_WEIGHTS,
    MAIL_FOLDERS,
    PHRASES,
    TOPICS,
)

MAILBOXES = 1_000
POINTS = 3
TENANT = uuid.UUID("7d1c0c4e-5a0b-4c84-9a51-2f4b3c6d7e8f")
SPAN_DAYS = 3 * 365
PAGE = 50


def words_of(text: str) -> list[str]:
    return text.split()


# The folders of every mailbox and the share of its items each holds: the demo tenant's.
_WELL_KNOWN = dict(MAIL_FOLDERS)
FOLDERS = [(path, _WELL_KNOWN.get(path, ""), weight) for path, weight in FOLDER_WEIGHTS]


# The most frequent words first: function words, then business words (the "common"
# search terms are drawn from ranks 40-120, i.e. from these).
REAL_WORDS = words_of("""
the to and of a in for is on that this with you it be we are as have will at
i from by or not your can our please if all but was an so me has more about
budget meeting report review project team update customer invoice contract release
quarter plan schedule deadline draft proposal approval finance sales marketing
office travel expense vendor partner security training hiring roadmap sprint
incident support ticket order payment account pricing forecast revenue margin
agenda minutes summary notes feedback question answer issue request change risk
status launch design product service client portal backup restore server network
policy compliance audit legal board offsite workshop webinar survey results data
analysis dashboard metrics target goal strategy timeline milestone delivery shipment
warehouse inventory supplier purchase quote estimate renewal license subscription
onboarding benefits payroll holiday leave office move desk laptop phone printer
password access email calendar invite call conference room lunch dinner event
kickoff retrospective demo prototype testing bug fix deploy version migration
upgrade maintenance outage recovery capacity storage cloud tenant mailbox drive
folder file document spreadsheet presentation slide chart table figure appendix
monday tuesday wednesday thursday friday weekend morning afternoon evening today
tomorrow yesterday week month year january february march april may june july
august september october november december thanks regards best kind hello hi
""")
FIRST = words_of("""Alex Sam Jordan Taylor Morgan Casey Riley Jamie Avery Quinn Robin Drew Kim Lee
Maria Jose Anna Li Wei Yuki Omar Fatima Ivan Olga Pierre Claire Hans Greta Paolo Sofia
Raj Priya Kwame Amara Lars Ingrid Mateo Lucia Noah Emma Liam Olivia Ethan Ava Lucas Mia
""")
LAST = words_of("""Smith Johnson Brown Garcia Miller Davis Martinez Lopez Wilson Anderson Thomas
Moore Martin Jackson White Harris Clark Lewis Walker Hall Young King Wright Scott Green
Baker Adams Nelson Hill Campbell Mitchell Roberts Carter Phillips Evans Turner Torres
Parker Collins Edwards Stewart Morris Murphy Cook Rogers Morgan Peterson Cooper Reed
""")
SYLLABLES = [c + v for c in "bcdfghklmnprstvz" for v in "aeiou"] + [
    c + v + e for c in "bdgklmnprst" for v in "aeiou" for e in "lnrs"
]
VOCABULARY = 30_000


def vocabulary(rng: random.Random) -> list[str]:
    words = list(dict.fromkeys(REAL_WORDS))
    seen = set(words)
    while len(words) < VOCABULARY:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 3, 3, 4))))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def zipf_cumulative(n: int, s: float = 1.0) -> list[float]:
    return list(itertools.accumulate(1 / (rank**s) for rank in range(1, n + 1)))


def mailbox_sizes(total: int, rng: random.Random) -> list[int]:
    """Skewed mailbox sizes summing to `total`: Pareto weights, at least 100 items each."""
    weights = [min(rng.paretovariate(1.3), 120) for _ in range(MAILBOXES)]
    scale = (total - 100 * MAILBOXES) / sum(weights)
    sizes = [100 + int(w * scale) for w in weights]
    sizes[sizes.index(max(sizes))] += total - sum(sizes)
    return sizes


def graph_like(key: str) -> str:
    """An id as long as Graph's (~152 characters of base64), derived from `key`."""
    digest = hashlib.sha512(key.encode()).digest()
    return "AAMkAGI2" + base64.urlsafe_b64encode(digest + digest[:50]).decode().rstrip("=")


def _addresses(text: str) -> list[dict]:
    out = []
    for part in text.split("; "):
        name, _, address = part.partition(" <")
        out.append({"emailAddress": {"name": name, "address": address.rstrip(">")}})
    return out


def real_meta(
    rng: random.Random, sender: str, recipients: str, dated, folder: str, attached: bool
) -> dict:
    """`meta` as restore/backup/mail.py stores it for a Graph message (the same keys and
    Graph's own shapes), so a row is as wide as a real backup's (~3.2 KB)."""
    when = dated.strftime("%Y-%m-%dT%H:%M:%SZ")
    sender_ = _addresses(sender)[0]
    to = _addresses(recipients)
    return {
        "from": sender_,
        "sender": sender_,
        "toRecipients": to[:1],
        "ccRecipients": to[1:],
        "bccRecipients": [],
        "replyTo": [],
        "internetMessageId": f"<{rng.getrandbits(120):x}.{dated:%Y%m%d%H%M}@contoso.example>",
        "conversationId": graph_like(f"C{rng.getrandbits(40)}")[:76] + "=",
        "importance": rng.choice(("normal",) * 8 + ("high", "low")),
        "flag": {"flagStatus": "notFlagged"},
        "categories": rng.choice(([],) * 6 + (["Blue category"], ["Red category"])),
        "isRead": rng.random() < 0.7,
        "isDraft": False,
        "receivedDateTime": when,
        "sentDateTime": when,
        "parentFolderId": folder,
        "sensitivity": 0,
        "sensitivityLabel": "",
        "attachments": [
            {
                "id": graph_like(f"A{rng.getrandbits(40)}"),
                "name": f"{rng.choice(TOPICS).lower().replace(' ', '-')}.pdf",
                "contentType": "application/pdf",
                "size": rng.randrange(20_000, 2_000_000),
                "isInline": False,
                "sha256": hashlib.sha256(rng.randbytes(8)).hexdigest(),
            }
            for _ in range(rng.choice((1, 1, 2)) if attached else 0)
        ],
        "changeKey": base64.b64encode(rng.randbytes(30)).decode(),
    }


# --- loading ---------------------------------------------------------------------------


def load(total: int, seed: int) -> dict:
    from django.db import connection

    from restore.models import Folder, ProtectedObject, RestorePoint

    rng = random.Random(seed)
    words = vocabulary(rng)
    cumulative = zipf_cumulative(len(words))
    people = [f"{f} {l}" for f in FIRST for l in LAST][:MAILBOXES]  # noqa: E741
    addresses = [p.lower().replace(" ", ".") + "@contoso.example" for p in people]
    externals = [
        f"{rng.choice(FIRST)} {rng.choice(LAST)} <{rng.choice(words[300:3000])}"
        f"@{rng.choice(words[300:3000])}.example>"
        for _ in range(2_000)
    ]
    started = time.monotonic()

    owners = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(MAILBOXES)]
    objects = ProtectedObject.objects.bulk_create(
        ProtectedObject(
            tenant_id=TENANT,
            workload="mail",
            owner_id=owners[i],
            name=people[i],
            address=addresses[i],
            last_backup_at=EPOCH,
        )
        for i in range(MAILBOXES)
    )
    RestorePoint.objects.bulk_create(
        RestorePoint(
            object=obj,
            seq=seq,
            status="succeeded",
            started_at=EPOCH - timedelta(days=2 * (POINTS - seq)),
            finished_at=EPOCH - timedelta(days=2 * (POINTS - seq)),
        )
        for obj in objects
        for seq in range(1, POINTS + 1)
    )
    folders = Folder.objects.bulk_create(
        Folder(
            object=obj,
            graph_id=f"AAMkF{obj.pk:05d}{n:02d}",
            parent_graph_id=f"AAMkF{obj.pk:05d}{0:02d}" if "/" in path else "",
            name=path.rsplit("/", 1)[-1],
            path=path,
            well_known=well_known,
            first_seq=1,
        )
        for obj in objects
        for n, (path, well_known, _) in enumerate(FOLDERS)
    )
    folder_ids = {(f.object_id, f.path): f.pk for f in folders}
    paths = [path for path, _, _ in FOLDERS]
    path_weights = list(itertools.accumulate(w for _, _, w in FOLDERS))
    sizes = mailbox_sizes(total, rng)

    def rows() -> Iterator[str]:
        item_id = 0
        for index, (obj, size) in enumerate(zip(objects, sizes, strict=True)):
            me = f"{people[index]} <{addresses[index]}>"
            colleagues = [f"{people[j]} <{addresses[j]}>" for j in rng.sample(range(MAILBOXES), 30)]
            for n in range(size):
                item_id += 1
                path = rng.choices(paths, cum_weights=path_weights)[0]
                sent = path in ("Sent Items", "Drafts")
                sender = me if sent else rng.choice(colleagues + externals[:200])
                others = rng.sample(colleagues, rng.choice((1, 1, 2, 3, 4)))
                recipients = "; ".join(others if sent else [me, *others[1:]])
                body = rng.choices(words, cum_weights=cumulative, k=44)
                if rng.random() < 0.33:
                    body.insert(rng.randrange(len(body)), rng.choice(PHRASES))
                subject = " ".join(
                    [
                        rng.choice(("", "", "Re:", "Fwd:")),
                        rng.choice(TOPICS),
                        *rng.choices(words, cum_weights=cumulative, k=2),
                    ]
                ).strip()
                dated = EPOCH - timedelta(seconds=rng.randrange(SPAN_DAYS * 86_400))
                roll = rng.random()
                first_seq = 1 if roll < 0.8 else (2 if roll < 0.92 else 3)
                # One state in ten was deleted before a later backup (last_seq closed).
                last_seq = (
                    rng.randint(first_seq, POINTS - 1)
                    if first_seq < POINTS and rng.random() < 0.1
                    else None
                )
                size_bytes = rng.randrange(2_000, 200_000)
                attached = rng.random() < 0.15
                graph_id = graph_like(f"I{obj.pk:05d}{n:07d}")
                meta = real_meta(
                    rng, sender, recipients, dated, graph_like(f"F{obj.pk:05d}{path}"), attached
                )
                yield (
                    "\t".join(
                        (
                            str(item_id),
                            str(obj.pk),
                            str(folder_ids[obj.pk, path]),
                            graph_id,
                            "message",
                            str(first_seq),
                            "\\N" if last_seq is None else str(last_seq),
                            subject,
                            sender,
                            recipients,
                            dated.isoformat(),
                            dated.isoformat(),
                            str(size_bytes),
                            "t" if rng.random() < 0.7 else "f",
                            "t" if attached else "f",
                            "",
                            hashlib.sha256(item_id.to_bytes(8)).hexdigest(),
                            " ".join(body),
                            json.dumps(meta).replace("\\", "\\\\"),
                            "",
                        )
                    )
                    + "\n"
                )

    columns = (
        "id, object_id, folder_id, graph_id, kind, first_seq, last_seq, name, sender, "
        "recipients, sent_at, dated_at, size, is_read, has_attachments, sensitivity, "
        "content_sha256, body_text, meta, content_status"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE tablename = 'restore_item' AND indexname NOT LIKE '%%_pkey'"
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        # Rows are consistent by construction: skip the per-row foreign-key triggers.
        cursor.execute("SET session_replication_role = replica")
        copy_started = time.monotonic()
        with cursor.copy(f"COPY restore_item ({columns}) FROM STDIN") as copy:
            buffer: list[str] = []
            for line in rows():
                buffer.append(line)
                if len(buffer) == 5_000:
                    copy.write("".join(buffer))
                    buffer = []
            copy.write("".join(buffer))
        copy_seconds = time.monotonic() - copy_started
        cursor.execute("SET session_replication_role = origin")
        cursor.execute("SELECT setval('restore_item_id_seq', (SELECT max(id) FROM restore_item))")
        cursor.execute("SET maintenance_work_mem = '1GB'")
        index_seconds = {}
        for name, definition in indexes:
            at = time.monotonic()
            cursor.execute(definition)
            index_seconds[name] = round(time.monotonic() - at, 1)
        at = time.monotonic()
        # VACUUM too, as autovacuum would: it sets the visibility map index-only scans use.
        cursor.execute("VACUUM ANALYZE")
        analyze_seconds = time.monotonic() - at
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('restore_item'))")
        table_size = cursor.fetchone()[0]
        # What one row takes in the heap (TOAST included), as a real backup's ~3.2 KB.
        cursor.execute(
            "SELECT round(avg(pg_column_size(i.*))) FROM restore_item i TABLESAMPLE SYSTEM (1)"
        )
        row_bytes = int(cursor.fetchone()[0])
    return {
        "items": total,
        "mailboxes": MAILBOXES,
        "largest_mailbox": max(sizes),
        "median_mailbox": int(statistics.median(sizes)),
        "load_s": round(time.monotonic() - started, 1),
        "copy_s": round(copy_seconds, 1),
        "index_build_s": index_seconds,
        "analyze_s": round(analyze_seconds, 1),
        "restore_item_total_size": table_size,
        "average_row_bytes": row_bytes,
    }


# --- measuring -------------------------------------------------------------------------


def make_session(user, object_ids: list[int]):
    from django.utils import timezone

    from restore.models import RestoreSession

    return RestoreSession.objects.create(
        user=user,
        expires_at=timezone.now() + timedelta(hours=1),
        object_ids=sorted(object_ids),
    )


def summary(samples: list[float]) -> dict:
    return {
        "n": len(samples),
        "p50_ms": round(percentile(samples, 50), 1),
        "p95_ms": round(percentile(samples, 95), 1),
        "max_ms": round(max(samples), 1),
    }


def measure(samples: int, seed: int, buffers: bool = False) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from authflow.models import User
    from restore.catalog import browse, search
    from restore.models import Item, ProtectedObject, RestorePoint
    from restore.scope import Scope

    rng = random.Random(seed + 1)
    words = vocabulary(random.Random(seed))  # the same vocabulary the load used
    user, _ = User.objects.get_or_create(username="bench-catalog")
    object_ids = list(ProtectedObject.objects.values_list("id", flat=True))
    max_item = Item.objects.order_by("-id").values_list("id", flat=True).first()
    results: dict[str, list[float]] = {}
    hits: dict[str, list[int]] = {}
    work: dict[str, list[float]] = {}
    server: dict[str, list[float]] = {}

    def explained(captured: list[dict]) -> tuple[float, float]:
        touched = executed = 0.0
        with connection.cursor() as cursor:
            for query in captured:
                if '"restore_item"' not in query["sql"]:
                    continue
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {query['sql']}", None)
                (plan,) = cursor.fetchone()
                plan = (json.loads(plan) if isinstance(plan, str) else plan)[0]
                top = plan["Plan"]
                touched += top["Shared Hit Blocks"] + top["Shared Read Blocks"]
                executed += plan["Execution Time"]
        return touched, executed

    slowest: dict[str, tuple[float, str, tuple]] = {}

    def run(kind: str, rows, cursor: str | None = None) -> None:
        """browse.page() as the views call it, timed; its SQL kept for the slowest."""
        connection.queries_log.clear()
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            browse.page(rows, cursor, "date", PAGE)
            millis = (time.perf_counter() - started) * 1000
        results.setdefault(kind, []).append(millis)
        if millis > slowest.get(kind, (0.0, "", ()))[0]:
            slowest[kind] = (millis, *rows_sql(rows, cursor))
        assert len(queries) == 1, queries.captured_queries

    def rows_sql(rows, cursor):
        # The same query page() ran, rebuilt with its parameters for EXPLAIN.
        ordered = rows.order_by("-dated_at", "-pk")
        if cursor:
            from django.db.models import Q

            value, row_id = browse.read_cursor(cursor, "date")
            ordered = ordered.filter(
                Q(dated_at__lte=value) & (Q(dated_at__lt=value) | Q(pk__lt=row_id))
            )
        return ordered[: PAGE + 1].query.sql_with_params()

    # Folder pages: a random item's folder (so big folders are picked as often as people
    # would open them), at a random restore point; as restore/catalog/views.point_detail.
    sizes = []
    for _ in range(samples):
        item = Item.objects.filter(id__gte=rng.randrange(1, max_item)).order_by("id").first()
        scope = Scope(make_session(user, [item.object_id]))
        point = scope.restore_point(
            RestorePoint.objects.get(object_id=item.object_id, seq=rng.randint(1, POINTS)).pk
        )
        folder = scope.folder(point, item.folder_id)
        rows = scope.items(point).filter(folder=folder)
        run("folder page 1", rows)
        # A deep page: the cursor 60% of the way down the folder, as "next" links make.
        sizes.append(rows.count())
        row = rows.order_by("-dated_at", "-id")[int(sizes[-1] * 0.6)]
        run("folder page deep (keyset)", rows, browse.make_cursor("date", row))

    def terms(kind: str) -> str:
        if kind == "common word":
            return rng.choice(words[40:120])
        if kind == "medium word":
            return rng.choice(words[500:2_000])
        if kind == "rare word":
            return rng.choice(words[10_000:30_000])
        if kind == "two words":
            return f"{rng.choice(words[40:120])} {rng.choice(words[300:1_000])}"
        if kind == "phrase":
            sentence = rng.choice(PHRASES).rstrip(".!?").split()
            start = rng.randrange(len(sentence) - 2)
            return '"' + " ".join(sentence[start : start + 3]) + '"'
        return rng.choice(words[40:120])  # "common word + date range"

    # Searches: restore.catalog.search.across_points, which the web's Search and
    # GET /api/v1/search call, timed whole (its queries for the page's restore points too).
    kinds = ["common word", "medium word", "rare word", "two words", "phrase", "word + date"]
    for who, count in (("user (1 mailbox)", 1), ("operator (100 mailboxes)", 100)):
        for kind in kinds:
            name = f"search {who}: {kind}"
            for _ in range(samples):
                scope = Scope(make_session(user, rng.sample(object_ids, count)))
                date_from = date_to = None
                if kind == "word + date":
                    date_to = (EPOCH - timedelta(days=rng.randrange(SPAN_DAYS))).date()
                    date_from = date_to - timedelta(days=90)
                text = terms(kind)
                connection.queries_log.clear()  # it keeps 9,000, then the capture is empty
                with CaptureQueriesContext(connection) as queries:
                    started = time.perf_counter()
                    found = search.across_points(scope, text, date_from=date_from, date_to=date_to)
                    millis = (time.perf_counter() - started) * 1000
                results.setdefault(name, []).append(millis)
                hits.setdefault(name, []).append(len(found.hits))
                if buffers:
                    # What PostgreSQL did for the sample, which the machine's load does
                    # not change: pages touched, and its own time, over its item queries.
                    touched, executed = explained(queries.captured_queries)
                    work.setdefault(name, []).append(touched)
                    server.setdefault(name, []).append(executed)
                if millis > slowest.get(name, (0.0, "", ()))[0]:
                    # The query that took longest of this sample, for EXPLAIN below.
                    longest = max(queries.captured_queries, key=lambda q: float(q["time"]))
                    slowest[name] = (millis, longest["sql"], None)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('shared_buffers'), current_setting('work_mem'), "
            "current_setting('server_version')"
        )
        shared_buffers, work_mem, version = cursor.fetchone()
    report: dict = {
        "postgresql": {"version": version, "shared_buffers": shared_buffers, "work_mem": work_mem},
        "code": search.__file__,
        "load_average": os.getloadavg(),
        "folder_page_code": "restore.catalog.browse.page",
        "folders_sampled_items_median": int(statistics.median(sizes)),
        "folders_sampled_items_max": max(sizes),
    }
    for kind, values in results.items():
        report[kind] = summary(values)
        report[f"{kind} p95_ms"] = report[kind]["p95_ms"]  # flat, for bench/paired.py
        if kind in hits:
            report[kind]["hits_median"] = int(statistics.median(hits[kind]))
        if kind in work:
            report[kind]["buffers_p50"] = int(percentile(work[kind], 50))
            report[kind]["buffers_p95"] = int(percentile(work[kind], 95))
            report[kind]["server_p50_ms"] = round(percentile(server[kind], 50), 1)
            report[kind]["server_p95_ms"] = round(percentile(server[kind], 95), 1)
            report[f"{kind} buffers_p95"] = report[kind]["buffers_p95"]
            report[f"{kind} server_p95_ms"] = report[kind]["server_p95_ms"]
    worst_kind = max(results, key=lambda k: report[k]["p95_ms"])
    _, sql, params = slowest[worst_kind]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        explain = "\n".join(row[0] for row in cursor.fetchall())
    report["slowest_kind"] = worst_kind
    report["slowest_explain"] = explain
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--reuse", action="store_true", help="keep an already loaded catalog")
    parser.add_argument(
        "--buffers",
        action="store_true",
        help="also EXPLAIN (ANALYZE, BUFFERS) each search's item queries: pages and server time",
    )
    args = parser.parse_args()

    configure(0)
    import django

    django.setup()
    from django.core.management import call_command

    loaded = None
    if args.reuse:
        call_command("migrate", verbosity=0)  # e.g. a new index or statistics
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE restore_item")
    else:
        create_database()
        call_command("migrate", verbosity=0)
        loaded = load(args.items, args.seed)
        print(json.dumps(loaded, indent=2), file=sys.stderr)
    report = measure(args.samples, args.seed, args.buffers)
    explain = report.pop("slowest_explain")
    print(json.dumps({"load": loaded, **report}, indent=2))
    print(
        f"\nEXPLAIN ANALYZE of the slowest sample of '{report['slowest_kind']}':\n{explain}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
