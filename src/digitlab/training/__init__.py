"""Training: the fit loop, optimizer/loss/schedule registry, recipes, ensembles, the LR finder,
fine-tuning, and the line reader's training. Checkpoints are written through runs/."""

from .config import RECIPES, TrainConfig, recipe
from .trainer import FitResult, Trainer, train

__all__ = ["RECIPES", "TrainConfig", "recipe", "FitResult", "Trainer", "train"]
