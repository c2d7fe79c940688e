"""A run's images: which of the 60k MNIST training images it trained on and which it held
out for validation, rebuilt from the training config its checkpoint records.

Everything that makes a choice for a checkpoint (the "not a digit" threshold, the best
epoch, a line reader's training numbers, `evaluate --split val`) takes its validation
images from here, so no choice ever sees test images, and the split is the one the run
trained with (a held-out set, or one fold of K).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from ..data.mnist import load_mnist
from ..data.splits import kfold_split, stratified_take, train_val_split
from ..errors import DigitlabError
from .checkpoint import Checkpoint

VAL_SIZE = 5000  # validation images held out of the 60k by default
SPLIT_SEED = 0


@dataclass(frozen=True)
class SplitSettings:
    """The settings of a training config that choose its images."""

    val_size: int = VAL_SIZE
    split_seed: int = SPLIT_SEED
    folds: int | None = None  # K-fold cross-validation: validate on fold `fold` instead
    fold: int | None = None
    subset: int | None = None  # train on a stratified part of the rest

    @classmethod
    def of(cls, config) -> "SplitSettings":
        """From a training config object, or the dict a checkpoint records (missing: the defaults)."""
        if isinstance(config, dict):
            return cls(**{f.name: config.get(f.name, f.default) for f in fields(cls)})
        return cls(**{f.name: getattr(config, f.name) for f in fields(cls)})


@dataclass
class Split:
    x_train: torch.Tensor  # uint8 N x 1 x 28 x 28 on the device
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor


def make_split(config, device: torch.device | str = "cpu") -> Split:
    """Training and validation images for a training config (an object or a recorded dict);
    the test set is not touched."""
    s = SplitSettings.of(config)
    data = load_mnist()
    if s.folds:
        train_idx, val_idx = kfold_split(data.train_labels, s.folds, s.fold, s.split_seed)
    else:
        train_idx, val_idx = train_val_split(data.train_labels, s.val_size, s.split_seed)
    if s.subset is not None:
        chosen, _ = stratified_take(data.train_labels[train_idx], s.subset, s.split_seed + 1)
        train_idx = train_idx[chosen]
    x, y = data.train_images.unsqueeze(1), data.train_labels.long()
    return Split(x[train_idx].to(device), y[train_idx].to(device), x[val_idx], y[val_idx])


def run_split(checkpoint: Checkpoint) -> Split:
    """The split a checkpoint's run trained with (the default split when it records no config)."""
    return make_split(checkpoint.meta.get("train_config") or {}, "cpu")


def validation_images(checkpoint: Checkpoint) -> tuple[torch.Tensor, torch.Tensor]:
    """The checkpoint's own validation images (N x 28 x 28) and labels, split as its training
    run split them (held-out set or fold)."""
    split = run_split(checkpoint)
    return split.x_val.squeeze(1), split.y_val


def split_images(checkpoint: Checkpoint, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The digits of `split` for a checkpoint: the 10k test images, or its own validation
    images ("val")."""
    if split == "test":
        data = load_mnist()
        return data.test_images, data.test_labels
    if split == "val":
        return validation_images(checkpoint)
    raise DigitlabError(f"split {split!r}: choose from test, val")
