"""Numbers as people write them, made from MNIST digits: the yardstick for reading
numbers whose digits touch, overlap and lean.

A number is 2 to 6 digits placed left to right. The space between two neighbours is
drawn as a share of their mean ink width: positive leaves paper between their boxes,
negative makes the boxes overlap. Each number is drawn in one gap *style* (apart,
touching, overlapping a little or a lot), so every style is equally well measured;
its gaps vary within the style. Each digit gets its own size and baseline jitter; the
whole number gets one slant (a shear, as a writer's lean) and sometimes a thicker pen.
Gaps are laid out upright and the slant applied after, as a hand leans the whole number.

`numbers(n, images, labels, seed)` returns the images (ink high, uint8, H x W each), the
true strings, every digit's box in the image and the gap style. Training digits make
training numbers, test digits make test numbers; the caller picks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

# gap style -> range of gaps, as a share of the two neighbours' mean ink width
STYLES = {
    "apart": (0.08, 0.5),
    "touching": (-0.05, 0.05),
    "overlap<=20%": (-0.2, -0.05),
    "overlap>20%": (-0.3, -0.2),
}
SCALE = 2.0  # an MNIST digit (20 px of ink) becomes about 40 px tall: a drawing's size
MARGIN = 12


@dataclass
class Number:
    image: np.ndarray  # uint8 H x W, ink high, background 0
    text: str
    boxes: list[tuple[int, int, int, int]]  # x, y, width, height of each digit's ink, left to right
    style: str
    gaps: list[float]  # between neighbours, share of their mean width
    slant: float  # degrees, positive leans right
    owner: np.ndarray  # uint8 H x W: 1 + the index of the digit whose ink is strongest there, 0 on paper


def _ink_crop(digit: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(digit > 0)
    return digit[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


def compose(digits: list[np.ndarray], gaps: list[float], rng: np.random.Generator, slant: float = 0.0,
            thicken: bool = False) -> tuple[np.ndarray, list[tuple[int, int, int, int]], np.ndarray]:
    """Lay out digit crops (float 0..1 ink) with the given gaps, then slant the whole; returns
    the image (float 0..1), each digit's box in it and which digit owns each pixel (0: none)."""
    heights = [d.shape[0] for d in digits]
    base = max(heights)
    lean = np.tan(np.radians(slant))
    layers, x = [], 0.0
    for k, d in enumerate(digits):
        if k:
            x += gaps[k - 1] * (digits[k - 1].shape[1] + d.shape[1]) / 2
        top = (base - d.shape[0]) + rng.uniform(-0.08, 0.08) * base  # bottoms on a jittered baseline
        layers.append((d, int(round(x)), int(round(top))))
        x += d.shape[1]
    left = min(c for _, c, _ in layers)
    top = min(r for _, _, r in layers)
    width = int(max(c + d.shape[1] for d, c, _ in layers) - left)
    height = int(max(r + d.shape[0] for d, _, r in layers) - top)
    shift = abs(lean) * height
    h, w = height + 2 * MARGIN, int(width + shift) + 2 * MARGIN
    image = np.zeros((h, w), np.float32)
    owner = np.zeros((h, w), np.uint8)
    boxes = []
    for k, (d, c, r) in enumerate(layers):
        own = np.zeros_like(image)
        own[MARGIN + r - top:MARGIN + r - top + d.shape[0], MARGIN + c - left:MARGIN + c - left + d.shape[1]] = d
        # shear about the bottom row: x' = x + lean * (bottom - y) (+ shift when leaning left)
        bottom = MARGIN + height - 1
        extra = shift if lean < 0 else 0.0
        own = ndimage.affine_transform(own, np.array([[1.0, 0.0], [lean, 1.0]]),
                                       offset=(0.0, -lean * bottom - extra), order=1)
        if thicken:
            own = ndimage.grey_dilation(own, size=(3, 3))
        rows, cols = np.nonzero(own > 0.25)
        boxes.append((int(cols.min()), int(rows.min()), int(cols.max() - cols.min() + 1),
                      int(rows.max() - rows.min() + 1)))
        owner[(own > image) & (own > 0.05)] = k + 1
        image = np.maximum(image, own)
    return image, boxes, owner


def numbers(n: int, images: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor, seed: int = 0,
            lengths: tuple[int, int] = (3, 5), styles: tuple[str, ...] = tuple(STYLES),
            slant: float = 20.0, thicken: float = 0.2) -> list[Number]:
    """`n` numbers of `lengths[0]`..`lengths[1]` digits drawn from `images` (uint8 N x 28 x 28)
    with their `labels`; styles in turn, slant uniform in +-`slant` degrees, a thicker pen on
    a `thicken` share of them. Seeded: the same arguments give the same numbers."""
    if not 2 <= lengths[0] <= lengths[1] <= 6:
        raise ValueError(f"lengths {lengths}: numbers here have 2 to 6 digits")
    unknown = set(styles) - set(STYLES)
    if unknown:
        raise ValueError(f"unknown gap style(s) {sorted(unknown)}; choose from {', '.join(STYLES)}")
    images = images.numpy() if torch.is_tensor(images) else np.asarray(images)
    labels = labels.numpy() if torch.is_tensor(labels) else np.asarray(labels)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        style = styles[i % len(styles)]
        length = int(rng.integers(lengths[0], lengths[1] + 1))
        picks = rng.integers(len(images), size=length)
        digits = []
        for p in picks:
            crop = _ink_crop(images[p]).astype(np.float32) / 255
            size = SCALE * rng.uniform(0.85, 1.15)
            digits.append(np.clip(ndimage.zoom(crop, size, order=1), 0, 1))
        gaps = [float(g) for g in rng.uniform(*STYLES[style], size=length - 1)]
        lean = float(rng.uniform(-slant, slant))
        image, boxes, owner = compose(digits, gaps, rng, lean, thicken=rng.random() < thicken)
        out.append(Number((np.clip(image, 0, 1) * 255).astype(np.uint8), "".join(str(int(labels[p])) for p in picks),
                          boxes, style, gaps, lean, owner))
    return out
