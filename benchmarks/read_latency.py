"""In-process latency of reading one number: `Predictor.read` on PNG bytes of a 5-digit
number drawn on a 500x120 page (dark ink on white), per gap style.

Numbers come from the generator (data/numbers.py) made from MNIST test digits, scaled
to fit the page keeping their shape. Each style's images are read once to warm up, then
timed one by one; the median (p50) and p90 are printed, per style and over all.

    python benchmarks/read_latency.py [--model runs/default/best] [--numbers 50]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

import numpy as np
from PIL import Image

from digitlab.data import load_mnist
from digitlab.data.numbers import STYLES, numbers
from digitlab.recognition.predictor import Predictor

PAGE = (500, 120)


def page_png(image: np.ndarray) -> bytes:
    """A generated number (ink high) scaled to fit the page, dark on white, as PNG."""
    h, w = image.shape
    factor = min(PAGE[0] / w, PAGE[1] / h)
    ink = Image.fromarray(255 - image).resize((int(w * factor), int(h * factor)), Image.Resampling.BILINEAR)
    page = Image.new("L", PAGE, 255)
    page.paste(ink, ((PAGE[0] - ink.width) // 2, (PAGE[1] - ink.height) // 2))
    buf = io.BytesIO()
    page.save(buf, format="PNG")
    return buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="runs/default/best")
    ap.add_argument("--numbers", type=int, default=50, help="numbers per gap style (default 50)")
    args = ap.parse_args()
    predictor = Predictor.load(args.model)
    data = load_mnist()
    everything = []
    for style in STYLES:
        made = numbers(args.numbers, data.test_images, data.test_labels, seed=7, lengths=(5, 5), styles=(style,))
        pages = [page_png(n.image) for n in made]
        for png in pages[:5]:
            predictor.read(png)
        times = []
        for png in pages:
            t0 = time.perf_counter()
            predictor.read(png)
            times.append((time.perf_counter() - t0) * 1e3)
        everything += times
        print(f"{style:<14} p50 {statistics.median(times):6.1f} ms   p90 {np.percentile(times, 90):6.1f} ms")
    print(f"{'all':<14} p50 {statistics.median(everything):6.1f} ms   p90 {np.percentile(everything, 90):6.1f} ms"
          f"   ({len(everything)} numbers of 5 digits, {PAGE[0]}x{PAGE[1]} PNG, in process)")


if __name__ == "__main__":
    main()
