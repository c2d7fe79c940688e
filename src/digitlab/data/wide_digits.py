"""Single digits as some writers draw them, made from MNIST digits: wide ones that the reader
might take for two. A digit stretched sideways, a 7 with a bar across its stem, a 1 with a
flag at its top. Drawn at a drawing's size (four times MNIST's), ink high, 0..1.

For measuring only (evaluation/reading_path.py): each is one digit, and reading it as two
("77", "11", "71") is the mistake counted.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw
from scipy import ndimage

SCALE = 4  # an MNIST digit (20 px of ink) becomes about 80 px tall
STRETCH = (1.5, 2.2)  # "stretched": this many times as wide
KINDS = ("stretched", "crossed 7", "flagged 1")


def _big(digit: np.ndarray) -> np.ndarray:
    return ndimage.zoom(digit.astype(np.float32) / 255, SCALE, order=1).clip(0, 1)


def _stroke(ink: np.ndarray, start: tuple[float, float], end: tuple[float, float], width: float) -> np.ndarray:
    """`ink` with a straight stroke added from `start` to `end` (x, y), `width` pixels wide."""
    layer = Image.new("L", (ink.shape[1], ink.shape[0]), 0)
    ImageDraw.Draw(layer).line([start, end], fill=255, width=max(1, int(round(width))))
    return np.maximum(ink, np.asarray(layer, np.float32) / 255)


def _box(ink: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(ink > 0.3)
    return int(cols.min()), int(rows.min()), int(cols.max()), int(rows.max())


def _pen(ink: np.ndarray) -> float:
    """The digit's stroke width: its ink area over the length of its skeleton, roughly."""
    strong = ink > 0.3
    thin = ndimage.binary_erosion(strong, iterations=1)
    return float(np.clip(strong.sum() / max(1, (strong & ~thin).sum()) * 2, 3, 12))


def draw_wide(kind: str, digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    big = _big(digit)
    if kind == "stretched":
        return ndimage.zoom(big, (1.0, rng.uniform(*STRETCH)), order=1).clip(0, 1)
    x0, y0, x1, y1 = _box(big)
    h, pen = y1 - y0, _pen(big)
    if kind == "crossed 7":  # a bar across the stem, a little below the middle
        y = y0 + rng.uniform(0.5, 0.6) * h
        cx = x0 + 0.45 * (x1 - x0)
        half = rng.uniform(0.22, 0.32) * h
        return _stroke(big, (cx - half, y), (cx + half, y + rng.uniform(-0.03, 0.03) * h), pen)
    if kind == "flagged 1":  # from the top, a flag down to the left
        rows, cols = np.nonzero(big[y0:y0 + 3] > 0.3)
        top = (float(cols.mean()), float(y0 + 1))
        length = rng.uniform(0.25, 0.4) * h
        return _stroke(big, top, (top[0] - length * 0.8, top[1] + length * 0.6), pen)
    raise ValueError(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}")


def wide_digits(kind: str, images: torch.Tensor, labels: torch.Tensor, n: int, seed: int
                ) -> tuple[list[np.ndarray], list[str]]:
    """`n` drawings of `kind` from the given MNIST digits (7s for "crossed 7", 1s for "flagged
    1", any digit otherwise) and their truth."""
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    want = {"crossed 7": 7, "flagged 1": 1}.get(kind)
    pool = np.arange(len(labels)) if want is None else np.nonzero(labels.numpy() == want)[0]
    picked = rng.choice(pool, size=min(n, len(pool)), replace=False)
    return ([draw_wide(kind, images[k].numpy(), rng) for k in picked], [str(int(labels[k])) for k in picked])
