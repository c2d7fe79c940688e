"""Trainer, optimizer/loss/schedule registry, recipes and checkpoints."""

from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .config import RECIPES, TrainConfig, recipe
from .trainer import FitResult, Trainer, train

__all__ = ["Checkpoint", "load_checkpoint", "save_checkpoint", "RECIPES", "TrainConfig", "recipe",
           "FitResult", "Trainer", "train"]
