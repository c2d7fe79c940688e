"""Open-set evaluation: does a checkpoint say "not a digit" to things that are not digits,
while it keeps accepting digits, MNIST's own and degraded ones?

Digits: the 10,000 MNIST test digits, and a stratified 2,000 of them under each
degradation (`data.degrade.DEGRADATIONS`), normalized again as a real drawing would be.
Non-digits: the held-out "test" part of the generator (`data.negatives`: fonts and random
streams never trained on; pieces of digits cut from test digits), `per_family` of each.
With `split="val"` the same is measured on the run's validation digits and the
generator's "val" part, where settings are chosen.

Per non-digit family: AUROC of the digit score (clean digits against the family), the
false-positive rate at 95% true-positive rate (the share of the family scoring at or
above the level 95% of clean digits reach), and the share rejected at the checkpoint's
calibrated threshold. Per digit set: the share rejected and the accuracy.
"""

from __future__ import annotations

import hashlib

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from ..data.degrade import DEGRADATIONS, degraded_sets
from ..data.negatives import ALL_FAMILIES, PER_FAMILY, render_family
from ..errors import DigitlabError
from ..files import atomic_dir, check_output_dir
from ..models.inference import predict_logits
from ..recognition.rejection import digit_scores, rejection_threshold
from ..runs.checkpoint import Checkpoint
from ..runs.split import split_images

DEGRADED_DIGITS = 2000


@dataclass
class OpenSet:
    split: str
    calibration: dict
    digits: dict[str, dict]  # set name -> n, rejected, accuracy
    families: dict[str, dict]  # family -> n, auroc, fpr_at_95_tpr, rejected
    scores: dict[str, np.ndarray]  # every set's digit scores, for the figures
    images: dict[str, np.ndarray]  # the non-digits, for the figure of those accepted

    def to_json(self) -> dict:
        return {"split": self.split, "score": self.calibration.get("score"),
                "threshold": self.calibration["threshold"], "calibration_rejected": self.calibration.get("rejected"),
                "digits": self.digits, "non_digits": self.families, "degradations": DEGRADATIONS}


def _fpr_at_tpr(positive: np.ndarray, negative: np.ndarray, tpr: float = 0.95) -> float:
    level = np.quantile(positive.astype(np.float64), 1 - tpr)
    return float((negative >= level).mean())


_HELD_OUT: dict[tuple, tuple[dict, dict]] = {}  # the last held-out sets rendered in this process


def _held_out(checkpoint: Checkpoint, split: str, per_family: int, degraded: int,
              seed: int) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], dict[str, np.ndarray]]:
    """Digit sets, name -> (images, labels): the split's digits, then degraded copies of a
    stratified part of them (seed 1: not the part calibration degraded); and the non-digits
    of every family, pieces of digits cut from the same split's digits. Rendering them takes
    seconds; checkpoints that share their split (`compare`, a report after an evaluation)
    share the last ones rendered."""
    images, labels = split_images(checkpoint, split)
    key = (split, per_family, degraded, seed, hashlib.sha256(images.numpy().tobytes()).hexdigest())
    if key not in _HELD_OUT:
        _HELD_OUT.clear()
        sets = {"mnist": (images, labels), **degraded_sets(images, labels, degraded, seed=1)}
        pictures = {family: render_family(family, per_family, split, seed, images)  # the generator's part of that name
                    for family in ALL_FAMILIES}
        _HELD_OUT[key] = (sets, pictures)
    return _HELD_OUT[key]


def open_set_evaluation(checkpoint: Checkpoint, device: torch.device, split: str = "test",
                        per_family: int = PER_FAMILY, degraded: int = DEGRADED_DIGITS, seed: int = 0) -> OpenSet:
    if per_family < 10 or degraded < 10:
        raise DigitlabError("open-set evaluation needs at least 10 non-digits per family and 10 degraded digits")
    sets, pictures = _held_out(checkpoint, split, per_family, degraded, seed)  # an unknown split is refused first
    calibration = rejection_threshold(checkpoint, device)
    threshold = calibration["threshold"]
    model = checkpoint.model

    def probs_of(images: torch.Tensor) -> np.ndarray:
        return torch.softmax(predict_logits(model, images, device), 1).numpy()

    scores, digits = {}, {}
    for name, (images, labels) in sets.items():
        p = probs_of(images)
        scores[name] = digit_scores(p)
        digits[name] = {"n": len(labels), "rejected": float((scores[name] < threshold).mean()),
                        "accuracy": float((p.argmax(1) == labels.numpy()).mean())}
    clean = scores["mnist"]
    families = {}
    for family in ALL_FAMILIES:
        s = digit_scores(probs_of(torch.from_numpy(pictures[family])))
        scores[family] = s
        truth = np.concatenate([np.ones(len(clean)), np.zeros(len(s))])
        families[family] = {"n": len(s), "auroc": float(roc_auc_score(truth, np.concatenate([clean, s]))),
                            "fpr_at_95_tpr": _fpr_at_tpr(clean, s), "rejected": float((s < threshold).mean())}
    return OpenSet(split, calibration, digits, families, scores, pictures)


def format_open_set(result: OpenSet) -> str:
    """The tables a person reads: digits kept, non-digits rejected."""
    lines = [f"open set ({'held-out test' if result.split == 'test' else 'validation'} part): "
             f"threshold {result.calibration['threshold']:.4f} on the {result.calibration.get('score', 'score')}",
             f"{'digits':<20}{'n':>7}{'rejected':>10}{'accuracy':>10}"]
    for name, d in result.digits.items():
        lines.append(f"{name:<20}{d['n']:>7}{d['rejected']:>10.2%}{d['accuracy']:>10.2%}")
    lines.append(f"{'non-digits':<20}{'n':>7}{'rejected':>10}{'AUROC':>10}{'FPR@95':>10}")
    for name, f in result.families.items():
        lines.append(f"{name:<20}{f['n']:>7}{f['rejected']:>10.2%}{f['auroc']:>10.4f}{f['fpr_at_95_tpr']:>10.2%}")
    return "\n".join(lines)


def open_set_figures(result: OpenSet) -> dict[str, bytes]:
    from . import plots

    digit_sets = {k: v for k, v in result.scores.items() if k in result.digits}
    non_digits = {k: v for k, v in result.scores.items() if k in result.families}
    return {
        "open_set_scores.png": plots.open_set_histogram(digit_sets, non_digits, result.calibration["threshold"]),
        "open_set_accepted.png": plots.accepted_non_digits(result.images, non_digits, result.calibration["threshold"]),
    }


OPEN_SET_FILES = ("open_set.json", "open_set_scores.png", "open_set_accepted.png")


def write_open_set(result: OpenSet, out: str | Path) -> Path:
    """open_set.json and the two figures, written atomically into `out` (new, empty, or an
    earlier open-set directory, which is replaced)."""
    out = check_output_dir(out, "the open-set evaluation", OPEN_SET_FILES[0])
    figures = open_set_figures(result)
    try:
        with atomic_dir(out) as tmp:
            (tmp / OPEN_SET_FILES[0]).write_text(json.dumps(result.to_json(), indent=2) + "\n")
            for name, data in figures.items():
                (tmp / name).write_bytes(data)
    except OSError as e:
        raise DigitlabError(f"cannot write the open-set evaluation to {out}: {e.strerror or e}") from None
    return out
