"""Evaluation of checkpoints on the test set."""

from .evaluate import evaluate_checkpoint, test_metrics

__all__ = ["evaluate_checkpoint", "test_metrics"]
