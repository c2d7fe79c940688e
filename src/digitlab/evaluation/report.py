"""Evaluate a checkpoint on the test set and write the evaluation report: metrics.json,
the figures as PNG files and one self-contained report.html.

The whole test set is predicted once, in batches; every metric and figure is derived
from those probabilities. Robustness re-predicts a fixed, stratified part of the
test set under each transform. The report directory is written atomically: it
appears complete, or not at all, and a previous report stays until the new one is
in place.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from ..data.mnist import dataset_checksum, load_mnist
from ..data.negatives import PER_FAMILY
from ..data.splits import stratified_take
from ..device import pick_device, resolve_precision
from ..errors import DigitlabError
from ..files import atomic_dir, check_output_dir
from ..models.inference import predict_logits
from ..models.summary import summarize
from ..runs.checkpoint import Checkpoint
from ..runs.ensemble import load_reader
from . import plots
from .html_report import render_html
from .metrics import classification_metrics, classification_report_text
from .open_set import OpenSet, open_set_evaluation, open_set_figures
from .robustness import ROBUSTNESS_IMAGES, family_means, robustness_table

REPORT_FORMAT = "digitlab.evaluation"


@dataclass
class Evaluation:
    checkpoint: Checkpoint
    images: np.ndarray  # uint8 N x 28 x 28, the test set
    labels: np.ndarray  # N
    probs: np.ndarray  # N x 10
    metrics: dict
    robustness: list[dict]
    robustness_images: int
    robustness_precision: str
    seconds: float
    open_set: OpenSet | None = None

    @cached_property
    def summary(self) -> dict:  # read by metrics.json, the HTML and compare: build the model once
        return summarize(self.checkpoint.model_spec)

    def to_json(self) -> dict:
        """metrics.json: the test metrics, robustness and where they came from."""
        meta = self.checkpoint.meta
        return {
            "format": REPORT_FORMAT,
            "checkpoint": str(self.checkpoint.path),
            "model": self.checkpoint.model_spec.to_json(),
            "parameters": self.summary["total_params"],
            **self.metrics,
            "robustness": self.robustness,
            "robustness_means": family_means(self.robustness),
            "robustness_images": self.robustness_images,
            "robustness_precision": self.robustness_precision,
            "dataset_sha256": dataset_checksum(),
            "checkpoint_dataset_sha256": meta.get("dataset_sha256"),
            "train_config": meta.get("train_config"),
            "open_set": self.open_set.to_json() if self.open_set else None,
            "seconds": self.seconds,
        }


def evaluate(path: str | Path, device: str | None = None, robustness_images: int = ROBUSTNESS_IMAGES,
             open_set: bool = True, per_family: int = PER_FAMILY) -> Evaluation:
    """Predict the 10k test images with a checkpoint and compute every metric (fp32), and
    (with `open_set`) how it tells digits from held-out non-digits (`per_family` of each)."""
    t0 = time.perf_counter()
    dev = pick_device(device)
    checkpoint = load_reader(path, dev)  # a checkpoint, or an ensemble read as one (compare)
    data = load_mnist()
    n = len(data.test_labels)
    if not 0 < robustness_images <= n:
        raise DigitlabError(f"robustness images must be between 1 and {n}, not {robustness_images}")
    model = checkpoint.model
    logits = predict_logits(model, data.test_images, dev)
    probs = torch.softmax(logits, 1).double().numpy()
    labels = data.test_labels.long().numpy()
    metrics = classification_metrics(probs, labels)
    picked = (stratified_take(data.test_labels, robustness_images, seed=0)[0] if robustness_images < n
              else torch.arange(n))
    # The table compares accuracies across ~20 transformed copies; bf16 (where the hardware
    # computes it natively) halves its cost and moves no accuracy by more than a few images.
    fast = resolve_precision("auto", dev)
    rows = robustness_table(lambda x: predict_logits(model, x, dev, fast).argmax(1), data.test_images[picked],
                            data.test_labels[picked])
    found = open_set_evaluation(checkpoint, dev, per_family=per_family) if open_set else None
    return Evaluation(checkpoint, data.test_images.numpy(), labels, probs, metrics, rows, len(picked), fast,
                      time.perf_counter() - t0, found)


def report_text(evaluation: Evaluation) -> str:
    return classification_report_text(evaluation.probs, evaluation.labels)


def figures(evaluation: Evaluation) -> dict[str, bytes]:
    """File name -> PNG bytes, in the order the HTML report shows them."""
    e, m = evaluation, evaluation.metrics
    roc, roc_zoom = plots.roc_curves(e.probs, e.labels)
    pr, pr_zoom = plots.pr_curves(e.probs, e.labels)
    return {
        "confusion_matrix.png": plots.confusion_matrices(m["confusion_matrix"]),
        "roc.png": roc,
        "roc_zoom.png": roc_zoom,
        "precision_recall.png": pr,
        "precision_recall_zoom.png": pr_zoom,
        "training_curves.png": plots.training_curves({e.checkpoint.name: e.checkpoint.meta.get("history") or []}),
        "confident_mistakes.png": plots.confident_mistakes(e.images, e.labels, e.probs),
        "reliability.png": plots.reliability_diagram(m["reliability"], m["ece"]),
        "robustness.png": plots.robustness(e.robustness),
        **(open_set_figures(e.open_set) if e.open_set else {}),
    }


def check_report_dir(path: str | Path) -> Path:
    """Refuse, before any work, a target that is a file, a directory of other things or
    not writable; an earlier report in the same place is replaced."""
    return check_output_dir(path, "the report", "metrics.json")


def write_report(evaluation: Evaluation, out: str | Path) -> Path:
    out = check_report_dir(out)
    images = figures(evaluation)
    metrics = evaluation.to_json()
    html = render_html(evaluation, metrics, images, report_text(evaluation))
    try:
        with atomic_dir(out) as tmp:
            for name, data in images.items():
                (tmp / name).write_bytes(data)
            (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
            (tmp / "report.html").write_text(html, encoding="utf-8")
    except OSError as e:
        raise DigitlabError(f"cannot write the report to {out}: {e.strerror or e}") from None
    return out
