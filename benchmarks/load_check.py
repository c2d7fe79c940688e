"""Load check of the web API: requests/s and latency with 1 and with 2 workers.

For each worker count, starts `digitlab serve --workers W` on 127.0.0.1 (a free
port), waits until every worker is ready, sends a warm-up round, then N requests
POST /api/predict (a drawn MNIST seven) from C keep-alive connections of a light
asyncio client (live_server.py), and prints requests/second, p50/p99 latency and
errors (anything but a 200 that reads "7"), then the speed-up of the last count over
the first. Loopback only; bounded in count and time.

    python benchmarks/load_check.py [--model runs/default/best] [--workers 1 2] [--requests 2000] [--clients 16]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys

from PIL import Image

from digitlab.data import load_mnist
from live_server import drive, http_request, percentile, start_server


def seven_png() -> bytes:
    digit = load_mnist().test_images[0].numpy()  # a 7
    buf = io.BytesIO()
    Image.fromarray(255 - digit).resize((112, 112)).save(buf, format="PNG")
    return buf.getvalue()


def measure(model: str, workers: int, requests: int, clients: int, warmup: int) -> dict:
    request = http_request("/api/predict", seven_png(), "image/png")
    server = start_server(model, workers)
    try:
        drive(server.port, [request] * warmup, clients)
        load = drive(server.port, [request] * requests, clients)
    finally:
        server.stop()
    ms = [r.seconds * 1000 for r in load.results]
    errors = sum(1 for r in load.results if r.status != 200 or b'"number":"7"' not in r.body)
    return {"workers": workers, "requests": len(ms), "wall": load.wall, "rps": len(ms) / load.wall,
            "p50": statistics.median(ms), "p99": percentile(ms, 0.99), "errors": errors}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="runs/default/best")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to measure (default 1 2)")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16, help="concurrent keep-alive connections")
    parser.add_argument("--warmup", type=int, default=200, help="requests sent first and not counted")
    args = parser.parse_args()

    rows = []
    for workers in args.workers:
        row = measure(args.model, workers, args.requests, args.clients, args.warmup)
        rows.append(row)
        print(f"{workers} worker(s): {row['requests']} requests from {args.clients} clients in {row['wall']:.1f}s: "
              f"{row['rps']:.1f} requests/s, latency p50 {row['p50']:.1f} ms, p99 {row['p99']:.1f} ms, "
              f"errors {row['errors']}", flush=True)
    if len(rows) > 1:
        print(f"{rows[-1]['workers']} workers / {rows[0]['workers']}: {rows[-1]['rps'] / rows[0]['rps']:.2f}x "
              "requests/s")
    return 1 if any(r["errors"] or r["requests"] < args.requests for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
