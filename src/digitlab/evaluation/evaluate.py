"""Test-set loss and accuracy of a checkpoint: the only place the test set is used."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ..data.mnist import load_mnist
from ..device import pick_device, resolve_precision
from ..models.inference import predict_logits
from ..training.checkpoint import load_checkpoint


def test_metrics(logits: torch.Tensor, labels: torch.Tensor) -> dict:
    labels = labels.long()
    return {
        "accuracy": (logits.argmax(1) == labels).float().mean().item(),
        "loss": F.cross_entropy(logits, labels).item(),
        "n": len(labels),
    }


def evaluate_checkpoint(path: str | Path, device: str | None = None, precision: str = "fp32") -> dict:
    """Accuracy and cross-entropy on the 10k test images (fp32 by default: the reference figure)."""
    dev = pick_device(device)
    checkpoint = load_checkpoint(path, dev)
    data = load_mnist()
    logits = predict_logits(checkpoint.model, data.test_images, dev, resolve_precision(precision, dev))
    return test_metrics(logits, data.test_labels)
