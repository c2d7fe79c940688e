"""Soak test of the web API: 30,000 mixed requests, every answer checked, memory sampled.

Starts `digitlab serve` on 127.0.0.1 (a free port) and sends, from C keep-alive
connections, a seeded shuffle of: good drawings (a digit as a form upload, a data
URL and a raw body; a five-digit number; a blank page; a scribble), every kind of
bad input the API refuses (empty, over the byte limit, over the pixel limit, a
decompression bomb, not an image, truncated, bad base64, bad JSON, JSON nested
100,000 deep, the wrong JSON, a form without a file, a foreign content type) and
the largest images allowed (4096x4096 pixels; a photo-like PNG just under the byte
limit). Every answer must have the status its kind expects. The server's resident
memory (all its processes) is read every 1,000 requests; growth is counted from
the idle server after the first 1,000 (warm-up: caches, allocator pools, lazy
imports) to the idle server at the end.

    python benchmarks/soak.py [--model runs/default/best] [--requests 30000] [--clients 8] [--workers 1]
"""

from __future__ import annotations

import argparse
import base64
import collections
import io
import json
import struct
import sys
import time
import zlib

import numpy as np
from PIL import Image, ImageDraw

from digitlab.data import load_mnist
from digitlab.web.limits import Limits
from live_server import drive, http_request, percentile, start_server

LIMITS = Limits()
BOUNDARY = "soakboundary"


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def form(name: str, filename: str | None, data: bytes, content_type: str) -> tuple[bytes, str]:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    body = (f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\nContent-Type: {content_type}\r\n\r\n").encode() \
        + data + f"\r\n--{BOUNDARY}--\r\n".encode()
    return body, f"multipart/form-data; boundary={BOUNDARY}"


def bomb() -> bytes:
    """A small PNG whose header claims 30000 x 30000 pixels."""
    data = bytearray(png(Image.new("L", (8, 8), 255)))
    data[16:24] = struct.pack(">II", 30000, 30000)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def largest_drawing() -> bytes:
    side = 4096
    image = Image.new("L", (side, side), 255)
    ImageDraw.Draw(image).line([(side // 2, side // 8), (side // 2 - side // 20, side * 7 // 8)], fill=0, width=300)
    return png(image)


def largest_bytes(rng) -> bytes:
    """A noisy RGB PNG just under the byte limit (noise does not compress)."""
    side = int((LIMITS.max_image_bytes / 3) ** 0.5) - 8
    data = png(Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)))
    assert len(data) <= LIMITS.max_image_bytes, len(data)
    return data


def request_kinds(rng) -> dict[str, tuple[bytes, tuple[int, ...], int]]:
    """kind -> (the encoded request, the statuses it may get, its weight in the mix)."""
    mnist = load_mnist()
    digit = png(Image.fromarray(255 - mnist.test_images[0].numpy()).resize((112, 112)))
    number = Image.new("L", (5 * 60 + 20, 80), 255)
    for k in range(5):
        number.paste(Image.fromarray(255 - mnist.test_images[k + 1].numpy()).resize((56, 56)), (10 + 60 * k, 12))
    scribble = Image.new("L", (120, 120), 255)
    ImageDraw.Draw(scribble).line([tuple(p) for p in rng.integers(0, 120, (12, 2)).tolist()], fill=0, width=5)
    url = "data:image/png;base64," + base64.b64encode(digit).decode()
    deep = b'{"image": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    p = "/api/predict"
    kinds = {
        "digit, form": (http_request(p, *form("image", "seven.png", digit, "image/png")), (200,), 30),
        "digit, data URL": (http_request(p, json.dumps({"image": url}).encode(), "application/json"), (200,), 20),
        "digit, raw, detail": (http_request(p + "?detail=true", digit, "image/png"), (200,), 20),
        "five digits": (http_request(p, png(number), "image/png"), (200,), 10),
        "blank": (http_request(p, png(Image.new("L", (64, 64), 255)), "image/png"), (200,), 3),
        "scribble": (http_request(p, png(scribble), "image/png"), (200,), 3),
        "empty": (http_request(p, b"", "image/png"), (400,), 1),
        "over the byte limit": (http_request(p, b"\0" * (LIMITS.max_image_bytes + 1), "image/png"), (413,), 0.2),
        "over the pixel limit": (http_request(p, png(Image.new("L", (4097, 8), 255)), "image/png"), (422,), 1),
        "decompression bomb": (http_request(p, bomb(), "image/png"), (422,), 1),
        "not an image": (http_request(p, b"hello, not an image", "image/png"), (422,), 1),
        "truncated": (http_request(p, digit[: len(digit) // 2], "image/png"), (422,), 1),
        "bad base64": (http_request(p, b'{"image": "data:image/png;base64,@@@"}', "application/json"), (400,), 1),
        "bad JSON": (http_request(p, b"{not json", "application/json"), (400,), 1),
        "JSON 100,000 deep": (http_request(p, deep, "application/json"), (400,), 1),
        "wrong JSON": (http_request(p, b'{"picture": "x"}', "application/json"), (422,), 1),
        "form without a file": (http_request(p, *form("note", None, b"text", "text/plain")), (400,), 1),
        "foreign content type": (http_request(p, b"some text", "text/plain"), (415,), 1),
        "largest: 4096x4096": (http_request(p, largest_drawing(), "image/png"), (200,), 0.1),
        "largest: 5 MB": (http_request(p, largest_bytes(rng), "image/png"), (200,), 0.1),
    }
    return kinds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="runs/default/best")
    parser.add_argument("--requests", type=int, default=30_000)
    parser.add_argument("--clients", type=int, default=8, help="concurrent keep-alive connections")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--sample-every", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=1000, help="requests before the memory baseline")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    kinds = request_kinds(rng)
    names = list(kinds)
    weights = np.array([kinds[n][2] for n in names], dtype=float)
    schedule = rng.choice(len(names), size=args.requests, p=weights / weights.sum())
    for must in range(len(names)):  # every kind at least a few times, whatever the draw
        schedule[rng.choice(args.requests, 3, replace=False)] = must
    requests = [kinds[names[k]][0] for k in schedule]

    server = start_server(args.model, args.workers)
    samples: list[tuple[int, float]] = []
    done = [0]
    started = time.perf_counter()

    def on_result(result):
        done[0] += 1
        if done[0] % args.sample_every == 0:
            samples.append((done[0], server.rss_mb()))
            print(f"{done[0]:>6} requests  {time.perf_counter() - started:6.0f}s  server RSS {samples[-1][1]:7.1f} MB",
                  flush=True)

    try:
        at_start = server.rss_mb()
        # warm-up, then the baseline measured with nothing in flight (a sample taken while
        # a 4096x4096 image is being read holds its transient ~0.6 GB)
        warm = drive(server.port, requests[: args.warmup], args.clients, timeout=120, on_result=on_result)
        after_warmup = server.rss_mb()
        rest = drive(server.port, requests[args.warmup:], args.clients, timeout=120, on_result=on_result)
        at_end = server.rss_mb()
    finally:
        server.stop()
    for r in rest.results:
        r.index += args.warmup
    results, wall = warm.results + rest.results, warm.wall + rest.wall

    by_kind = collections.defaultdict(collections.Counter)
    seconds = collections.defaultdict(list)
    wrong = 0
    for r in results:
        name = names[schedule[r.index]]
        by_kind[name][r.status] += 1
        seconds[name].append(r.seconds)
        wrong += r.status not in kinds[name][1]
    print(f"\n{len(results)} requests in {wall:.0f}s from {args.clients} connections, "
          f"{args.workers} worker(s)")
    for name in names:
        statuses = ", ".join(f"{s or 'no answer'}: {n}" for s, n in sorted(by_kind[name].items()))
        print(f"  {name:<22} {statuses:<24} p50 {1000 * percentile(seconds[name], 0.5):7.1f} ms  "
              f"expected {'/'.join(map(str, kinds[name][1]))}")
    server_errors = sum(n for c in by_kind.values() for s, n in c.items() if s >= 500 or s == 0)
    print(f"5xx or no answer: {server_errors}; unexpected status: {wrong}")
    print(f"server RSS, idle: {at_start:.1f} MB at start, {after_warmup:.1f} MB after the {args.warmup:,} warm-up "
          f"requests, {at_end:.1f} MB after all {len(results):,}; growth after warm-up {at_end - after_warmup:+.1f} MB "
          f"(highest sample under load {max(s[1] for s in samples):.1f} MB)")
    return 1 if server_errors or wrong or len(results) < args.requests else 0


if __name__ == "__main__":
    sys.exit(main())
