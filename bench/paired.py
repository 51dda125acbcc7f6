"""Run benchmark variants alternately in one sitting; print median and range per metric.

    .venv/bin/python bench/paired.py --runs 3 --metric content_mb_per_s \\
        "plaintext=python ../base/bench/download.py --size 256" \\
        "sealed=python bench/download.py --size 256"

Each variant's command prints one JSON object (the benches in bench/ do); rounds go
A, B, C, A, B, C, … so machine load drifts over all variants alike. `uptime` is printed
before and after.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys


def last_json(text: str) -> dict[str, object]:
    start = text.rfind("\n{")
    return json.loads(text[start + 1 if start >= 0 else text.index("{") :])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("variants", nargs="+", help="name=command")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--metric", action="append", required=True)
    parser.add_argument("--save", help="append each run's JSON here, one line a run")
    args = parser.parse_args()
    variants = [v.split("=", 1) for v in args.variants]
    results: dict[str, list[dict[str, object]]] = {name: [] for name, _ in variants}
    print("load before:", subprocess.run(["uptime"], capture_output=True, text=True).stdout)
    for run in range(args.runs):
        for name, command in variants:
            done = subprocess.run(shlex.split(command), capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"{name} failed:\n{done.stderr[-3000:]}")
            results[name].append(last_json(done.stdout))
            if args.save:
                line = {"variant": name, "run": run + 1, **results[name][-1]}
                with open(args.save, "a") as saved:
                    print(json.dumps(line), file=saved)
            shown = {m: results[name][-1].get(m) for m in args.metric}
            print(f"run {run + 1} {name}: {shown}", flush=True)
    print("load after:", subprocess.run(["uptime"], capture_output=True, text=True).stdout)
    for metric in args.metric:
        for name, _ in variants:
            values = [
                float(v) for r in results[name] if isinstance(v := r.get(metric), int | float)
            ]
            if not values:  # not a number (a load list, an error count by kind): per run only
                continue
            print(
                f"{metric:28} {name:12} median {statistics.median(values):9.2f}  "
                f"range {min(values):.2f} to {max(values):.2f}  ({len(values)} runs)"
            )


if __name__ == "__main__":
    main()
