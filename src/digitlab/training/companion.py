"""Where a network trained to work beside a classifier (the line reader, the group judge)
starts: the device and precision, seeded random streams, and the classifier's own split,
so that its validation digits stay unseen by both networks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..device import pick_device, resolve_precision
from ..runs.checkpoint import read_meta
from ..runs.split import Split, make_split


@dataclass
class CompanionStart:
    device: torch.device
    precision: str  # "bf16" where the hardware computes it natively, else "fp32"
    rng: np.random.Generator
    meta: dict  # the classifier's model.json
    split: Split  # the classifier's training and validation digits


def start_companion(classifier: str | Path, seed: int, device: str | None = None) -> CompanionStart:
    dev = pick_device(device)
    torch.manual_seed(seed)
    meta = read_meta(classifier)
    return CompanionStart(dev, resolve_precision("auto", dev), np.random.default_rng(seed), meta,
                          make_split(meta.get("train_config") or {}, "cpu"))
