"""The "not a digit" decision: a score for each shape, and the level below which a shape is
said not to be a digit.

The score is the model's top class probability. A model trained only on digits is sure
of itself on many things that are not digits; one trained with generated non-digits
(Outlier Exposure: `TrainConfig.negatives`) has learned to spread its probability over
the ten classes on them, so the same score separates far better (docs/open-set.md has
the figures and the alternatives measured).

The threshold is calibrated on the checkpoint's own validation digits and cached beside
its weights (`rejection.json`, keyed by their SHA-256, so new weights calibrate anew).
A checkpoint trained with non-digits is calibrated on its validation digits both clean
and degraded as other writers and scanners degrade them (`data.degrade.DEGRADATIONS`,
1,000 of each): the threshold rejects 1% of them all, pooled. (Rejecting at most 1% of
each set was tried first: about 1% of degraded digits are unreadable, so that threshold
sat where it rejected almost nothing.) A checkpoint trained without non-digits keeps the
rule it always had: 1% of its clean validation digits.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..data.degrade import degraded_sets
from ..files import write_json_atomic
from ..models.inference import predict_logits
from ..runs.checkpoint import Checkpoint
from ..runs.split import validation_images

REJECT_RATE = 0.01  # share of real digits (of each calibration set) the rule may reject
CALIBRATION = "rejection.json"
CALIBRATION_DEGRADED = 1000  # validation digits per degradation
SCORE = "top class probability"


def digit_scores(probs: np.ndarray | torch.Tensor) -> np.ndarray:
    """How much each shape looks like a digit: its top class probability (N x 10 -> N)."""
    probs = probs.numpy() if torch.is_tensor(probs) else np.asarray(probs)
    return probs.max(1)


def trained_with_negatives(checkpoint: Checkpoint) -> bool:
    return (checkpoint.meta.get("train_config") or {}).get("negatives") is not None


def calibration_sets(checkpoint: Checkpoint) -> dict[str, torch.Tensor]:
    """The validation digits the threshold is set on: clean, and (for a checkpoint trained
    with non-digits) a stratified 1,000 of them under each degradation."""
    images, labels = validation_images(checkpoint)
    sets = {"clean": images}
    if trained_with_negatives(checkpoint):
        sets.update({name: degraded for name, (degraded, _) in
                     degraded_sets(images, labels, CALIBRATION_DEGRADED, seed=0).items()})
    return sets


def calibrate(checkpoint: Checkpoint, device: torch.device, rate: float = REJECT_RATE) -> dict:
    """The threshold that rejects `rate` of all calibration digits pooled, and each set's share
    rejected at it."""
    scores = {name: digit_scores(torch.softmax(predict_logits(checkpoint.model, images, device), 1))
              for name, images in calibration_sets(checkpoint).items()}
    threshold = float(np.quantile(np.concatenate(list(scores.values())).astype(np.float64), rate))
    return {"weights_sha256": checkpoint.meta.get("weights_sha256"), "threshold": threshold, "rate": rate,
            "score": SCORE, "rejected": {name: float((s < threshold).mean()) for name, s in scores.items()}}


def rejection_threshold(checkpoint: Checkpoint, device: torch.device) -> dict:
    """The checkpoint's calibration, from `rejection.json` when it matches the weights, else
    computed and saved there (a read-only checkpoint calibrates again next time)."""
    cache = Path(checkpoint.path) / CALIBRATION
    key = checkpoint.meta.get("weights_sha256")
    try:
        saved = json.loads(cache.read_text())
        if saved.get("weights_sha256") == key and saved.get("score") == SCORE and "rejected" in saved:
            saved["threshold"] = float(saved["threshold"])
            return saved
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    result = calibrate(checkpoint, device)
    try:
        write_json_atomic(cache, result)
    except OSError:
        pass
    return result
