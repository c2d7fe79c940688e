"""Load check of the web API: requests/s and latency with 1 and with 2 workers.

Starts `digitlab serve --workers W` for each worker count on 127.0.0.1 (free ports),
waits until every worker is ready, sends each a warm-up round, then N requests POST
/api/predict (a drawn MNIST seven) to each from C keep-alive connections of a light
asyncio client (live_server.py), in rounds that alternate between the servers. Prints
requests/second, p50/p99 latency and errors (anything but a 200 that reads "7"), and
how many cores the check (server and client) and all other processes kept busy
meanwhile, since another job on the machine changes the figures; then the speed-up
of the last count over the first. Loopback only; bounded in count and time.

    python benchmarks/load_check.py [--model runs/default/best] [--workers 1 2] [--requests 2000] [--rounds 4]
                                    [--clients 16]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time

from PIL import Image

from digitlab.data import load_mnist
from live_server import busy_cpu_seconds, cpu_seconds, drive, http_request, percentile, start_server


def seven_png() -> bytes:
    digit = load_mnist().test_images[0].numpy()  # a 7
    buf = io.BytesIO()
    Image.fromarray(255 - digit).resize((112, 112)).save(buf, format="PNG")
    return buf.getvalue()


def one_round(server, request: bytes, requests: int, clients: int) -> dict:
    """`requests` sent to one server: the results, the wall time, and the CPU seconds of
    this check (server and client) and of the whole machine meanwhile."""
    ours = server.pids() + [os.getpid()]
    machine, mine = busy_cpu_seconds(), cpu_seconds(ours)
    load = drive(server.port, [request] * requests, clients)
    return {"results": load.results, "wall": load.wall, "mine": cpu_seconds(ours) - mine,
            "machine": busy_cpu_seconds() - machine}


def wait_until_idle(pids: list[int], most_s: float) -> None:
    """Wait (at most `most_s`) for 3 s in which other processes keep under 0.1 core busy."""
    deadline = time.time() + most_s
    while time.time() < deadline:
        machine, mine = busy_cpu_seconds(), cpu_seconds(pids)
        time.sleep(3)
        if (busy_cpu_seconds() - machine) - (cpu_seconds(pids) - mine) < 0.3:
            return


def summarize(workers: int, rounds: list[dict]) -> dict:
    results = [r for one in rounds for r in one["results"]]
    wall = sum(one["wall"] for one in rounds)
    mine, machine = sum(one["mine"] for one in rounds), sum(one["machine"] for one in rounds)
    ms = [r.seconds * 1000 for r in results]
    errors = sum(1 for r in results if r.status != 200 or b'"number":"7"' not in r.body)
    return {"workers": workers, "requests": len(ms), "wall": wall, "rps": len(ms) / wall,
            "round_rps": [len(one["results"]) / one["wall"] for one in rounds],
            "p50": statistics.median(ms), "p99": percentile(ms, 0.99), "errors": errors,
            "this_check_cores": mine / wall, "other_cores": max(0.0, machine - mine) / wall}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="runs/default/best")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to measure (default 1 2)")
    parser.add_argument("--requests", type=int, default=2000, help="per worker count, over all rounds")
    parser.add_argument("--rounds", type=int, default=4,
                        help="the requests are sent in this many rounds, the worker counts taking turns, so that "
                             "a change in the machine's other load hits every count alike (default 4)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent keep-alive connections")
    parser.add_argument("--warmup", type=int, default=200, help="requests sent to each server first, not counted")
    parser.add_argument("--wait-idle", type=float, default=0, metavar="S",
                        help="on a shared machine: before measuring, wait up to S seconds until other processes "
                             "leave the cores idle (default 0: do not wait)")
    args = parser.parse_args()

    request = http_request("/api/predict", seven_png(), "image/png")
    servers = {}
    try:
        for workers in args.workers:  # all started first; an idle server costs nothing
            servers[workers] = start_server(args.model, workers)
            drive(servers[workers].port, [request] * args.warmup, args.clients)
        wait_until_idle([pid for server in servers.values() for pid in server.pids()] + [os.getpid()], args.wait_idle)
        rounds = {workers: [] for workers in args.workers}
        for k in range(args.rounds):
            order = args.workers if k % 2 == 0 else args.workers[::-1]
            for workers in order:
                rounds[workers].append(one_round(servers[workers], request, args.requests // args.rounds, args.clients))
    finally:
        for server in servers.values():
            server.stop()

    rows = [summarize(workers, rounds[workers]) for workers in args.workers]
    for row in rows:
        print(f"{row['workers']} worker(s): {row['requests']} requests from {args.clients} clients in "
              f"{row['wall']:.1f}s: {row['rps']:.1f} requests/s (rounds: "
              f"{', '.join(f'{x:.0f}' for x in row['round_rps'])}), latency p50 {row['p50']:.1f} ms, "
              f"p99 {row['p99']:.1f} ms, errors {row['errors']}; cores busy: {row['this_check_cores']:.2f} this "
              f"check, {row['other_cores']:.2f} other processes", flush=True)
    if len(rows) > 1:
        print(f"{rows[-1]['workers']} workers / {rows[0]['workers']}: {rows[-1]['rps'] / rows[0]['rps']:.2f}x "
              "requests/s")
    return 1 if any(r["errors"] or r["requests"] < args.requests // args.rounds * args.rounds for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
