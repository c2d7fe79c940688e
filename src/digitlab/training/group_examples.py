"""What the group judge is trained on: stroke groups that are one digit, several digits
whose ink touches, or not a digit, each drawn as the reading path would see it.

- one digit: an MNIST digit at twice its size with another pen (thinner or thicker), a
  slant, and a width from condensed to twice as wide; some 7s with a bar across the stem
  and 1s with a flag (data/wide_digits.py): the wide single digits that must not be split;
- several: two to four MNIST digits laid out touching or overlapping (data/numbers.py's
  `compose`, one slant for the whole), the groups that splitting is for;
- not a digit: the non-digit generator's families (data/negatives.py) as drawn, letters,
  strings of letters, symbols, shapes, scribbles, pieces of digits and blobs; two
  overlapping digits ("pairs") are several digits here, not a non-digit.

Training digits make the training groups and validation digits the calibration groups, as
the caller picks; the non-digits come from the generator's matching part.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
from scipy import ndimage

from ..data.generated import cached, digest
from ..data.negatives import draw_family
from ..data.numbers import compose
from ..data.wide_digits import draw_wide
from ..models.group_net import NOT, ONE, SEVERAL
from ..recognition.group_judge import group_input

# the generator's families as drawn for "not a digit", and their shares
NOT_MIX = {"letters": 0.3, "strings": 0.2, "symbols": 0.1, "scribbles": 0.15, "shapes": 0.1, "partial": 0.1,
           "blobs": 0.05}
WIDE_SHARE = 0.1  # of the single digits: 7s crossed and 1s flagged, each
GAPS = (-0.3, 0.03)  # between neighbours of a group of several, a share of their mean width


def _shear(ink: np.ndarray, lean: float) -> np.ndarray:
    h, w = ink.shape
    shift = abs(lean) * h
    matrix = np.array([[1.0, 0.0], [-lean, 1.0]])
    offset = (0.0, lean * (h - 1) - (shift if lean > 0 else 0.0))
    return ndimage.affine_transform(ink, matrix, offset=offset, output_shape=(h, int(w + shift) + 1), order=1)


def _crop(digit: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(digit > 0)
    return digit[rows.min():rows.max() + 1, cols.min():cols.max() + 1].astype(np.float32) / 255


def one_digit(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An MNIST digit (uint8 28x28) drawn as some writer might: twice its size, another width,
    slant and pen."""
    width = rng.uniform(0.7, 2.0) if rng.random() < 0.35 else rng.uniform(0.85, 1.2)
    ink = ndimage.zoom(np.pad(_crop(digit), 2), (2.0, 2.0 * width), order=1).clip(0, 1)
    return _shear(ink, np.tan(np.radians(rng.uniform(-15, 15)))).clip(0, 1)


def several_digits(digits: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    crops = [ndimage.zoom(_crop(d), 2.0 * rng.uniform(0.85, 1.15), order=1).clip(0, 1) for d in digits]
    gaps = [float(g) for g in rng.uniform(*GAPS, size=len(crops) - 1)]
    image, _, _ = compose(crops, gaps, rng, float(rng.uniform(-20, 20)))
    return image.clip(0, 1)


def group_examples(images: torch.Tensor, labels: torch.Tensor, counts: tuple[int, int, int], part: str,
                   seed: int, workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`counts` = (one digit, several, not a digit) groups as uint8 N x HEIGHT x WIDTH group
    inputs, and their classes; digits from `images` (uint8 N x 28 x 28) and `labels`,
    non-digits from the generator's `part`. Drawn in `workers` processes (default: one per
    core), a share of each class each, every share from its own seeded stream: the same
    arguments give the same groups."""
    images = images.numpy() if torch.is_tensor(images) else np.asarray(images)
    labels = labels.numpy() if torch.is_tensor(labels) else np.asarray(labels)
    # a process per 20,000 groups at most: starting one costs seconds (it imports torch)
    workers = max(1, min(workers or os.cpu_count() or 1, sum(counts) // 20000 or 1))
    shares = [tuple(int(c * (k + 1) // workers - c * k // workers) for c in counts) for k in range(workers)]
    if workers == 1:
        return _drawn_share(images, labels, shares[0], part, seed, 0)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        done = list(pool.map(_drawn_share, [images] * workers, [labels] * workers, shares, [part] * workers,
                             [seed] * workers, range(workers)))
    return np.concatenate([x for x, _ in done]), np.concatenate([y for _, y in done])


def cached_group_examples(images: torch.Tensor, labels: torch.Tensor, counts: tuple[int, int, int], part: str,
                          seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`group_examples`, kept in the data directory's cache (data/generated.py): drawn once
    per seed and set of digits."""
    from ..data import negatives, numbers, wide_digits
    from ..recognition import group_judge
    from . import group_examples as this

    images = images.numpy() if torch.is_tensor(images) else np.asarray(images)
    labels = labels.numpy() if torch.is_tensor(labels) else np.asarray(labels)
    found = cached("groups", {"counts": list(counts), "part": part, "seed": seed, "digits": digest(images, labels)},
                   [this, group_judge, negatives, numbers, wide_digits],
                   lambda: dict(zip(("x", "y"), group_examples(images, labels, counts, part, seed))))
    return found["x"], found["y"]


def _drawn_share(images: np.ndarray, labels: np.ndarray, counts: tuple[int, int, int], part: str, seed: int,
                 index: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, 7, index])
    inks: list[np.ndarray] = []
    classes: list[int] = []
    ones, several, nots = counts
    sevens, strokes = np.nonzero(labels == 7)[0], np.nonzero(labels == 1)[0]
    for i in range(ones):
        u = rng.random()
        if u < WIDE_SHARE:
            inks.append(draw_wide("crossed 7", images[rng.choice(sevens)], rng))
        elif u < 2 * WIDE_SHARE:
            inks.append(draw_wide("flagged 1", images[rng.choice(strokes)], rng))
        else:
            inks.append(one_digit(images[rng.integers(len(images))], rng))
        classes.append(ONE)
    for i in range(several):
        picks = rng.integers(len(images), size=int(rng.choice([2, 2, 2, 3, 3, 4])))
        inks.append(several_digits([images[k] for k in picks], rng))
        classes.append(SEVERAL)
    weights = np.array(list(NOT_MIX.values()))
    per_family = np.floor(weights / weights.sum() * nots).astype(int)
    per_family[: nots - per_family.sum()] += 1
    for family, n in zip(NOT_MIX, per_family):  # each share its own non-digits: the generator's seed differs
        for ink in draw_family(family, int(n), part, seed * 1000 + index, images):
            if ink is not None and ink.max() > 0:
                inks.append(ink)
                classes.append(NOT)
    x = np.stack([(group_input(ink) * 255).astype(np.uint8) for ink in inks])
    return x, np.asarray(classes, np.int64)
