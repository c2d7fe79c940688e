"""Loss and accuracy of a checkpoint or an ensemble, on the test set (the only place it is
used) or on the validation images the run held out (where choices are made)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

from ..device import pick_device, resolve_precision
from ..errors import DigitlabError
from ..models.inference import predict_probs
from ..runs.checkpoint import Checkpoint, load_checkpoint
from ..runs.ensemble import is_ensemble, load_ensemble
from ..runs.split import SplitSettings, split_images

SPLITS = ("test", "val")


def prob_metrics(probs: torch.Tensor, labels: torch.Tensor) -> dict:
    """Accuracy and cross-entropy of class probabilities (averaged ones too: an ensemble has no
    single set of logits)."""
    labels = labels.long()
    return {
        "accuracy": (probs.argmax(1) == labels).float().mean().item(),
        "loss": F.nll_loss(probs.clamp_min(1e-12).log(), labels).item(),
        "n": len(labels),
    }


def each_member_probs(checkpoints: list[Checkpoint], images: torch.Tensor, device: torch.device,
                      precision: str = "fp32", tta: bool = False) -> list[torch.Tensor]:
    """Each member's class probabilities (over the shifted views with `tta`); an ensemble's
    reading is their mean."""
    return [predict_probs([c.model], images, device, precision, tta=tta) for c in checkpoints]


def evaluate_checkpoint(path: str | Path, device: str | None = None, precision: str = "fp32",
                        split: str = "test", tta: bool | None = None) -> dict:
    """Accuracy and cross-entropy of a checkpoint, or of an ensemble directory, on the 10k test
    images or on the run's own validation images (fp32 by default: the reference figure).

    `tta` None reads an ensemble as its manifest says and a single checkpoint without
    test-time shifts. An ensemble also reports each member's accuracy."""
    if split not in SPLITS:
        raise DigitlabError(f"split {split!r}: choose from {', '.join(SPLITS)}")
    dev = pick_device(device)
    if is_ensemble(path):
        ensemble = load_ensemble(path, dev)
        checkpoints, use_tta = ensemble.checkpoints, ensemble.tta if tta is None else tta
    else:
        checkpoints, use_tta = [load_checkpoint(path, dev)], bool(tta)
    if split == "val":
        splits = {replace(SplitSettings.of(c.meta.get("train_config") or {}), subset=None) for c in checkpoints}
        if len(splits) > 1:
            raise DigitlabError(f"the members of {path} held out different validation images")
    images, labels = split_images(checkpoints[0], split)
    member_probs = each_member_probs(checkpoints, images, dev, resolve_precision(precision, dev), use_tta)
    result = prob_metrics(torch.stack(member_probs).mean(0), labels)
    result.update(split=split, tta=use_tta)
    if len(checkpoints) > 1:
        result["members"] = [{"checkpoint": str(c.path), **prob_metrics(p, labels)}
                             for c, p in zip(checkpoints, member_probs)]
    return result
