"""Benchmark: the whole test suite's wall time, this checkout against a baseline checkout.

Runs `pytest -q` in the baseline checkout and in this one alternately (baseline first),
`--pairs` times, each run on a database of its own and a throw-away redis-server of its
own (so two runs never share state, and no other Redis database is touched), and prints
every run with the machine's load (`uptime`) just before and just after it, then the
median and range per checkout. The machine is shared, so the pairs run back to back; with
`--together` the two runs of a pair start at the same moment instead, so both see the same
load from other work (each also slows the other; the faster one finishes first and the
baseline then runs on a quieter machine, which favours the baseline).

Usage (the baseline is a git worktree at the commit to compare with, with its venv):

    git worktree add /tmp/suite-baseline <commit>
    (cd /tmp/suite-baseline && make .venv/.test-installed)
    .venv/bin/python bench/suite_duration.py --baseline /tmp/suite-baseline [--pairs 3]

Needs PostgreSQL as for the tests (BENCH_DATABASE_URL's server, default
postgres://postgres@127.0.0.1:5432) and `redis-server` on PATH.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.parallel import start_redis  # noqa: E402 (after the path is set)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()


def run_suite(
    checkout: Path, database: str, server: str, log: Path | None = None
) -> tuple[float, str, str]:
    """(wall seconds, load before and after, pytest's last line) of one `pytest -q`."""
    process, redis_url = start_redis(tempfile.mkdtemp(prefix="suite-bench-redis-"))
    try:
        env = {**os.environ, "DATABASE_URL": f"{server}/{database}", "REDIS_URL": redis_url}
        load = uptime()
        started = time.monotonic()
        result = subprocess.run(
            [str(checkout / ".venv/bin/pytest"), "-q", "-p", "no:cacheprovider"],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.monotonic() - started
        load = f"before: {load} | after: {uptime()}"
    finally:
        process.terminate()
        process.wait(timeout=10)
    if log is not None:
        log.write_text(result.stdout + result.stderr)
    summary = (result.stdout.strip().splitlines() or [""])[-1]
    return elapsed, load, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="baseline checkout")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--together", action="store_true", help="start both runs at once")
    parser.add_argument("--logs", type=Path, help="a folder for each run's whole output")
    args = parser.parse_args()
    server = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432")
    checkouts = {"baseline": args.baseline.resolve(), "this checkout": ROOT}
    times: dict[str, list[float]] = {name: [] for name in checkouts}

    if args.logs:
        args.logs.mkdir(parents=True, exist_ok=True)
    pair = 0

    def one(name: str) -> tuple[float, str, str]:
        side = "base" if name == "baseline" else "new"
        log = args.logs / f"pair{pair}-{side}.log" if args.logs else None
        return run_suite(checkouts[name], f"lb_suitebench_{side}", server, log)

    for pair in range(1, args.pairs + 1):
        if args.together:
            with ThreadPoolExecutor(max_workers=2) as pool:
                results = dict(zip(checkouts, pool.map(one, checkouts), strict=True))
        else:
            results = {name: one(name) for name in checkouts}
        for name, (elapsed, load, summary) in results.items():
            times[name].append(elapsed)
            print(f"pair {pair} {name}: {elapsed:.0f} s | {summary} | {load}", flush=True)
    for name, values in times.items():
        print(
            f"{name}: median {statistics.median(values):.0f} s, "
            f"range {min(values):.0f}-{max(values):.0f} s over {len(values)} runs"
        )


if __name__ == "__main__":
    main()
