"""Samples split for fine-tuning: a seeded share of each label held out to measure on, and
the rest as arrays a trainer takes."""

from __future__ import annotations

import numpy as np

from .labels import NOT_A_DIGIT
from .sample_store import Sample


def split_samples(samples: list[Sample], holdout: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    """(train, held out): from each label, a seeded `holdout` share (at least one when the
    label has two or more samples) is kept out."""
    rng = np.random.default_rng(seed)
    train, held = [], []
    for label in sorted({s.label for s in samples}):
        group = [s for s in samples if s.label == label]
        order = rng.permutation(len(group))
        k = round(len(group) * holdout) if len(group) > 1 else 0
        k = max(k, 1) if len(group) > 1 and holdout > 0 else k
        held += [group[i] for i in order[:k]]
        train += [group[i] for i in order[k:]]
    return train, held


def sample_arrays(samples: list[Sample]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The digits (uint8 N x 28 x 28), their labels, and the "not a digit" samples (M x 28 x 28)."""
    digits = [s for s in samples if s.label != NOT_A_DIGIT]
    others = [s for s in samples if s.label == NOT_A_DIGIT]

    def stack(group: list[Sample]) -> np.ndarray:
        return np.stack([s.pixels for s in group]) if group else np.zeros((0, 28, 28), np.uint8)

    return stack(digits), np.array([s.label for s in digits], np.int64), stack(others)


def sample_ids(samples: list[Sample]) -> list[int]:
    return sorted(s.id for s in samples if s.id is not None)
