"""Peak memory of one reading: a fresh process loads the model and reads a small drawing
(so the model, the libraries and their first-call buffers are in before measuring), then
reads the largest drawing the server accepts by default (4096x4096, as soak.py's)
and prints by how much that reading raised the process's peak resident memory.

    python benchmarks/peak_memory.py [--model runs/default/best] [--side 4096]
"""

from __future__ import annotations

import argparse
import io
import resource

from PIL import Image, ImageDraw

from digitlab.recognition.predictor import Predictor


def drawing(side: int) -> bytes:
    """A thick 1 on a white page of side x side pixels."""
    image = Image.new("L", (side, side), 255)
    ImageDraw.Draw(image).line([(side // 2, side // 8), (side // 2 - side // 20, side * 7 // 8)], fill=0,
                               width=max(3, side * 300 // 4096))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="runs/default/best")
    p.add_argument("--side", type=int, default=4096, help="pixels per side of the large drawing (default 4096)")
    args = p.parse_args()
    predictor = Predictor.load(args.model)
    large = drawing(args.side)
    predictor.read(drawing(280))
    before = peak_mb()
    answer = predictor.read(large)
    after = peak_mb()
    print(f"{args.side}x{args.side} drawing ({len(large):,} bytes of PNG) read as {answer.number!r}: "
          f"peak RSS {before:.0f} MB -> {after:.0f} MB (+{after - before:.0f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
