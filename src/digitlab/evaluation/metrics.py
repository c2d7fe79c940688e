"""Classification metrics of predicted probabilities against labels, from scikit-learn,
plus the calibration measures scikit-learn has no multi-class form of."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (average_precision_score, classification_report, confusion_matrix, roc_auc_score)

CLASSES = list(range(10))
ECE_BINS = 15


def reliability_bins(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> list[dict]:
    """Equal-width bins of top-class confidence: per bin its count, mean confidence and accuracy.

    A bin holds the predictions whose confidence lies in (lo, hi]; the first bin also
    takes a confidence of exactly 0 (which softmax never gives)."""
    confidence = probs.max(1)
    correct = probs.argmax(1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    out = []
    for b in range(bins):
        members = which == b
        n = int(members.sum())
        out.append({
            "lo": float(edges[b]), "hi": float(edges[b + 1]), "count": n,
            "confidence": float(confidence[members].mean()) if n else None,
            "accuracy": float(correct[members].mean()) if n else None,
        })
    return out


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """sum over bins of (share of predictions in the bin) * |accuracy - confidence|."""
    total = len(labels)
    return float(sum(b["count"] / total * abs(b["accuracy"] - b["confidence"])
                     for b in reliability_bins(probs, labels, bins) if b["count"]))


def classification_metrics(probs: np.ndarray, labels: np.ndarray) -> dict:
    """Everything the evaluation report states about a set of predictions.

    `probs` is N x 10 (rows sum to 1), `labels` N integers. Per-class ROC AUC and
    average precision treat each digit one-vs-rest.
    """
    labels = np.asarray(labels).astype(np.int64)
    predicted = probs.argmax(1)
    report = classification_report(labels, predicted, labels=CLASSES, output_dict=True, zero_division=0)
    onehot = labels[:, None] == np.arange(10)[None, :]
    present = onehot.any(0) & ~onehot.all(0)  # AUC needs positives and negatives
    auc = {str(c): float(roc_auc_score(onehot[:, c], probs[:, c])) if present[c] else None for c in CLASSES}
    ap = {str(c): float(average_precision_score(onehot[:, c], probs[:, c])) if onehot[:, c].any() else None
          for c in CLASSES}
    true_probs = np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1.0)
    return {
        "n": int(len(labels)),
        "accuracy": float((predicted == labels).mean()),
        "loss": float(-np.log(true_probs).mean()),
        "macro": {k: report["macro avg"][k] for k in ("precision", "recall", "f1-score")},
        "weighted": {k: report["weighted avg"][k] for k in ("precision", "recall", "f1-score")},
        "per_class": {str(c): report[str(c)] for c in CLASSES},
        "classification_report": report,
        "confusion_matrix": confusion_matrix(labels, predicted, labels=CLASSES).tolist(),
        "roc_auc": auc,
        "average_precision": ap,
        "ece": expected_calibration_error(probs, labels),
        "reliability": reliability_bins(probs, labels),
    }


def classification_report_text(probs: np.ndarray, labels: np.ndarray) -> str:
    """scikit-learn's printed classification report, as the study report showed it."""
    return classification_report(np.asarray(labels).astype(np.int64), probs.argmax(1), labels=CLASSES, digits=4,
                                 zero_division=0)
