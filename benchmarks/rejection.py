"""How often the "not a digit" rule rejects things that are not digits.

The rule is calibrated to reject 1% of real validation digits. This script draws
letters (A-Z, a-z in Pillow's built-in font, dark on light) and random scribbles
(3-6 point polylines of random width), reads each with the Predictor and prints the
share rejected, next to the share of validation digits rejected.

    python benchmarks/rejection.py [--model runs/default/best] [--scribbles 500]
"""

from __future__ import annotations

import argparse
import io
import string

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from digitlab.recognition.predictor import Predictor
from digitlab.training.trainer import validation_images


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def letter(ch: str, font) -> bytes:
    image = Image.new("L", (140, 140), 255)
    ImageDraw.Draw(image).text((70, 70), ch, fill=0, font=font, anchor="mm")
    return png(image)


def scribble(rng) -> bytes:
    image = Image.new("L", (112, 112), 255)
    points = [tuple(int(v) for v in rng.integers(10, 102, 2)) for _ in range(int(rng.integers(3, 7)))]
    ImageDraw.Draw(image).line(points, fill=0, width=int(rng.integers(4, 12)), joint="curve")
    return png(image)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="runs/default/best")
    parser.add_argument("--scribbles", type=int, default=500)
    args = parser.parse_args()

    predictor = Predictor.load(args.model)
    images, _ = validation_images(predictor.checkpoint)
    probs = predictor.classify(images.numpy())
    print(f"threshold {predictor.threshold:.4f}: validation digits rejected "
          f"{(probs.max(1) < predictor.threshold).mean():.2%} of {len(images)}")

    font = ImageFont.load_default(size=96)
    letters = string.ascii_uppercase + string.ascii_lowercase
    results = {ch: predictor.read(letter(ch, font)) for ch in letters}
    rejected = [ch for ch, r in results.items() if r["rejected"]]
    accepted = " ".join(f"{ch}->{r['number']}" for ch, r in results.items() if not r["rejected"])
    print(f"letters rejected {len(rejected) / len(letters):.0%} ({len(rejected)} of {len(letters)}); "
          f"read as digits: {accepted}")

    rng = np.random.default_rng(0)
    scribbles = [predictor.read(scribble(rng)) for _ in range(args.scribbles)]
    print(f"scribbles rejected {np.mean([r['rejected'] for r in scribbles]):.0%} of {args.scribbles}")


if __name__ == "__main__":
    main()
