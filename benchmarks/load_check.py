"""Load check of the web API: N requests from C concurrent clients on loopback.

Starts `digitlab serve` on 127.0.0.1 (a free port), waits for /api/health, then
sends POST /api/predict with a drawn MNIST digit from C threads until N requests
are done, and prints requests/second, p50/p99 latency and the error count. The
server is stopped at the end. Loopback only; bounded in count and time.

    python benchmarks/load_check.py [--model runs/default/best] [--requests 2000] [--clients 16]
"""

from __future__ import annotations

import argparse
import io
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

from PIL import Image

from digitlab.data import load_mnist


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="runs/default/best")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=600, help="give up after this many seconds")
    args = parser.parse_args()

    digit = load_mnist().test_images[0].numpy()
    buf = io.BytesIO()
    Image.fromarray(255 - digit).resize((112, 112)).save(buf, format="PNG")
    body = buf.getvalue()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "digitlab", "serve", "--model", args.model, "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                urllib.request.urlopen(base + "/api/health", timeout=1).read()
                break
            except OSError:
                if server.poll() is not None:
                    print(server.stderr.read().decode(), file=sys.stderr)
                    return 1
                time.sleep(0.2)
        latencies, errors, lock = [], [], threading.Lock()
        remaining = [args.requests]
        stop_at = time.time() + args.timeout

        def client():
            while time.time() < stop_at:
                with lock:
                    if remaining[0] == 0:
                        return
                    remaining[0] -= 1
                request = urllib.request.Request(base + "/api/predict", data=body,
                                                 headers={"Content-Type": "image/png"})
                t0 = time.perf_counter()
                error = None
                try:
                    with urllib.request.urlopen(request, timeout=30) as r:
                        if r.status != 200 or b'"number":"7"' not in r.read():
                            error = "wrong answer"
                except OSError as e:
                    error = str(e)
                with lock:
                    latencies.append(time.perf_counter() - t0)
                    if error:
                        errors.append(error)

        t0 = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
    finally:
        server.terminate()
        server.wait(timeout=30)
    ms = sorted(x * 1000 for x in latencies)
    p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
    print(f"{len(ms)} requests from {args.clients} clients in {wall:.1f}s: {len(ms) / wall:.1f} requests/s, "
          f"latency p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms, errors {len(errors)}")
    return 1 if errors or len(ms) < args.requests else 0


if __name__ == "__main__":
    sys.exit(main())
