"""The learning-rate range test: train for a few hundred steps while the learning rate
grows exponentially from tiny to huge, and read a good rate off the loss curve.

The loss is smoothed with a bias-corrected exponential moving average; the sweep
stops early once the smoothed loss exceeds `diverge` times its minimum. The suggested
rate is where the smoothed loss falls fastest against log(lr): the steepest descent,
searched only before the minimum, where the curve is still meaningful.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import DigitlabError
from ..runs.split import make_split
from .config import TrainConfig
from .trainer import Trainer


@dataclass(frozen=True)
class LRFindConfig:
    min_lr: float = 1e-6
    max_lr: float = 100.0
    steps: int = 200
    smoothing: float = 0.9  # weight of the past in the moving average of the loss
    diverge: float = 4.0

    def __post_init__(self):
        if not 0 < self.min_lr < self.max_lr:
            raise DigitlabError(f"lr-find range {self.min_lr}..{self.max_lr}: need 0 < min < max")
        if self.steps < 10:
            raise DigitlabError(f"lr-find steps {self.steps}: need at least 10")
        if not 0 <= self.smoothing < 1:
            raise DigitlabError(f"lr-find smoothing {self.smoothing}: must be in [0, 1)")


def suggest_lr(lrs: list[float], smoothed: list[float]) -> float:
    """The rate of steepest descent of the smoothed loss, before its minimum."""
    lrs_a, loss = np.asarray(lrs), np.asarray(smoothed)
    stop = int(np.argmin(loss))
    if stop < 2:
        raise DigitlabError("the loss never fell during the sweep; lower --min-lr or check the model and data")
    slope = np.gradient(loss[: stop + 1], np.log(lrs_a[: stop + 1]))
    return float(lrs_a[int(np.argmin(slope))])


def lr_range_test(cfg: TrainConfig, find: LRFindConfig = LRFindConfig(), device: str | None = None) -> dict:
    """Sweep the learning rate for `cfg`'s model, optimizer, loss and batch size.

    Returns {"lrs", "losses", "smoothed", "suggested_lr", "min_lr", "max_lr", "steps"}."""
    trainer = Trainer(cfg, None, device=device, progress=False, log=lambda s: None)
    split = make_split(cfg, trainer.device)
    trainer.prepare(split)
    n, bs = len(split.y_train), cfg.batch_size
    factor = (find.max_lr / find.min_lr) ** (1 / (find.steps - 1))
    lrs, losses, smoothed = [], [], []
    avg, best = 0.0, math.inf
    perm = torch.randperm(n, generator=trainer.generator).to(trainer.device)
    trainer.model.train()
    for step in range(find.steps):
        start = (step * bs) % max(1, n - bs + 1)
        idx = perm[start:start + bs]
        lr = find.min_lr * factor**step
        loss = trainer.step(split.x_train[idx], split.y_train[idx], lr)[0].item()
        if not math.isfinite(loss):
            break
        avg = find.smoothing * avg + (1 - find.smoothing) * loss
        value = avg / (1 - find.smoothing ** (step + 1))
        lrs.append(lr)
        losses.append(loss)
        smoothed.append(value)
        best = min(best, value)
        if step > 10 and value > find.diverge * best:
            break
    return {"lrs": lrs, "losses": losses, "smoothed": smoothed, "suggested_lr": suggest_lr(lrs, smoothed),
            "min_lr": find.min_lr, "max_lr": find.max_lr, "steps": len(lrs)}
