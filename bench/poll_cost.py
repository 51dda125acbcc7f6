"""Benchmark: what one device-code poll costs, client and sandbox apart, per way of polling.

bench/device_code_poller.py measures whole loops under load; this one sends token
requests one at a time (no contention in the client) for pending sign-ins, alternating
three ways of polling in one sitting, and prints per way the client's CPU per request and
the sandbox server's CPU per request (Microsoft's side in production):

- `app_per_poll_requests`: a new msal app per poll over requests (the poller before
  issue 20);
- `reused_app_requests`: one msal app over requests, reused (what the naive loop does);
- `lifeboat`: flows.DevicePolls over portal.microsoft.LeanSession (the poller now).

Usage (PostgreSQL and Redis as for the tests; it uses its own database):

    .venv/bin/python bench/poll_cost.py --polls 300 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/lb_poll_cost_bench")

from bench import device_code_poller as harness


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--polls", type=int, default=300, help="token requests per way and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--server-workers", type=int, default=2)
    args = parser.parse_args()

    port = harness.free_port()
    env = harness.configure(port)
    harness.create_database()
    import django

    django.setup()
    from django.core.cache import cache
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from sandbox import seed
    from sandbox.models import Policy

    seed.reset()
    cache.clear()
    # Interval 1 s and no slow_down: each sign-in is polled once per pass, passes apart.
    Policy.objects.update(device_code_interval=1, device_code_lifetime=900)
    server = harness.start_server(env, port, args.server_workers)
    try:
        print(json.dumps(measure(args, server.pid), indent=2))
    finally:
        harness.stop_server(server)


def measure(args: argparse.Namespace, server_pid: int) -> dict[str, object]:
    from authflow import encryption, flows
    from portal.microsoft import http_session, lean_session

    sign_ins = harness.start_sign_ins(args.polls)
    tenant = sign_ins[0].tenant
    device_flows = [json.loads(encryption.decrypt(s.flow_ciphertext)) for s in sign_ins]
    session = http_session()
    reused = flows.public_app(tenant=tenant, session=session)
    lean = flows.DevicePolls(lean_session())
    ways: dict[str, Callable[[dict], object]] = {
        "app_per_poll_requests": lambda flow: flows.poll_device_flow(
            flow, tenant=tenant, session=session
        ),
        "reused_app_requests": lambda flow: reused.acquire_token_by_device_flow(
            flow, exit_condition=lambda _flow: True
        ),
        "lifeboat": lambda flow: lean.poll(flow, tenant=tenant),
    }
    # Warm up (connections, discovery, msal's caches), each way on its own code: one code
    # polled three times in a row would be answered slow_down.
    for flow, poll in zip(device_flows, ways.values(), strict=False):
        poll(flow)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in ways}
    load_before = [round(x, 2) for x in os.getloadavg()]
    for _ in range(args.rounds):
        for name, poll in ways.items():
            time.sleep(1.1)  # every code's interval has passed: no slow_down
            server_before = harness.process_tree_cpu(server_pid)
            cpu_before, wall_before = time.process_time(), time.perf_counter()
            for flow in device_flows:
                poll(flow)
            cpu = time.process_time() - cpu_before
            wall = time.perf_counter() - wall_before
            server = harness.process_tree_cpu(server_pid) - server_before
            runs[name].append(
                {
                    "client_cpu_ms_per_request": round(cpu / len(device_flows) * 1000, 3),
                    "sandbox_cpu_ms_per_request": round(server / len(device_flows) * 1000, 3),
                    "wall_ms_per_request": round(wall / len(device_flows) * 1000, 2),
                }
            )
    from sandbox.models import DeviceCode

    summary: dict[str, object] = {}
    for name, results in runs.items():
        summary[name] = {
            metric: {
                "median": statistics.median(r[metric] for r in results),
                "min": min(r[metric] for r in results),
                "max": max(r[metric] for r in results),
                "runs": [r[metric] for r in results],
            }
            for metric in results[0]
        }
    return {
        "requests_per_way_and_round": len(device_flows),
        "rounds": args.rounds,
        "slow_down_answers": sum(DeviceCode.objects.values_list("slow_downs", flat=True)),
        "ways": summary,
        "cores": os.cpu_count(),
        "loadavg_at_start": load_before,
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
    }


if __name__ == "__main__":
    main()
