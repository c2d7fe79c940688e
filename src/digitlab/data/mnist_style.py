"""MNIST's own normalization of one character: the ink's box scaled into 20x20 keeping its
aspect ratio (anti-aliased), then placed in 28x28 by its centre of mass.

Real drawings (recognition/) and generated non-digits (negatives.py) both pass through
this one function, so what the model is taught on looks like what it is later shown.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

NOISE_FLOOR = 0.05  # ink weaker than this share of the strongest is paper texture or noise


def to_mnist(ink: np.ndarray) -> np.ndarray:
    """One character's ink (any size, background 0, some ink present) -> uint8 28x28 as MNIST."""
    rows, cols = np.nonzero(ink)
    crop = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    h, w = crop.shape
    factor = 20.0 / max(h, w)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    small = Image.fromarray((crop * 255).astype(np.uint8)).resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    small = np.asarray(small, dtype=np.float32)
    canvas = np.zeros((28, 28), dtype=np.float32)
    top, left = (28 - small.shape[0]) // 2, (28 - small.shape[1]) // 2
    canvas[top:top + small.shape[0], left:left + small.shape[1]] = small
    if not canvas.any():  # a speck too faint to survive the resize
        return canvas.astype(np.uint8)
    cy, cx = ndimage.center_of_mass(canvas)
    shifted = ndimage.shift(canvas, (14 - cy, 14 - cx), order=1, mode="constant", cval=0.0)
    return np.clip(np.rint(shifted), 0, 255).astype(np.uint8)


def normalize_ink(ink: np.ndarray) -> np.ndarray | None:
    """Ink 0..1 at any scale -> uint8 28x28 the way the predictor would see it: scaled to its
    peak, the noise floor dropped, then `to_mnist`. None when nothing is left."""
    peak = float(ink.max())
    if peak <= 0:
        return None
    ink = ink / peak
    ink = np.where(ink < NOISE_FLOOR, 0, ink)
    out = to_mnist(ink)
    return out if out.any() else None
