"""Evaluation of checkpoints on the test set: metrics, figures, calibration,
robustness, the HTML report and side-by-side comparison."""

from .evaluate import evaluate_checkpoint, prob_metrics

__all__ = ["evaluate_checkpoint", "prob_metrics"]
