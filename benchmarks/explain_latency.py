"""Latency of POST /api/explain over HTTP: `digitlab serve` on 127.0.0.1, one request at
a time, each a drawn digit (an MNIST test digit, dark on a white 280x280 page, as the
page's canvas sends it) explained in full: every layer's maps as PNGs, the dense layers'
values and the attribution. Prints p50 and p90 over the timed requests and the size of
an answer.

    python benchmarks/explain_latency.py --model CKPT [--requests 100]

The weights do not change the time, only the architecture does: a checkpoint of the
report's final CNN trained briefly (`digitlab train --recipe report-cnn-final --subset
5000 --epochs 1 --out runs/cnn-final`) times the same as a fully trained one.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
import urllib.request

from PIL import Image

from digitlab.data import load_mnist
from live_server import percentile, start_server

WARM_UP = 5


def drawn(image) -> bytes:
    page = Image.fromarray(255 - image).resize((280, 280), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    page.save(buf, format="PNG")
    return buf.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="checkpoint directory")
    parser.add_argument("--requests", type=int, default=100, help="timed requests (default 100)")
    args = parser.parse_args()
    images = [drawn(im) for im in load_mnist().test_images[:args.requests + WARM_UP].numpy()]
    server = start_server(args.model)
    try:
        times, sizes = [], []
        for k, body in enumerate(images):
            request = urllib.request.Request(server.base + "/api/explain", data=body,
                                             headers={"Content-Type": "image/png"})
            t0 = time.perf_counter()
            with urllib.request.urlopen(request, timeout=60) as r:
                answer = r.read()
            if k >= WARM_UP:
                times.append(time.perf_counter() - t0)
                sizes.append(len(answer))
        layers = json.loads(answer)["digits"][0]["explanation"]["layers"]
    finally:
        server.stop()
    print(f"model {args.model}: {len(layers)} layers, answer {statistics.median(sizes) / 1e3:.0f} kB (median)")
    print(f"/api/explain over {len(times)} requests: p50 {1000 * statistics.median(times):.1f} ms, "
          f"p90 {1000 * percentile(times, 0.9):.1f} ms")


if __name__ == "__main__":
    main()
