"""Optimizers, losses and learning-rate schedules by name, with Keras' defaults.

The report trained with Keras, so an optimizer asked for by name behaves as
Keras' does: its default learning rate, epsilon 1e-7, RMSprop's rho 0.9 (and its
epsilon inside the square root: optimizers.py), Nadam's momentum schedule, Adagrad's
initial accumulator 0.1.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from ..errors import DigitlabError
from .optimizers import KerasRMSprop

# name -> (default learning rate, builder(params, lr)). On the CPU PyTorch's default is one
# small kernel per parameter tensor and operation; Adam's fused kernel makes one pass over all
# parameters, several times cheaper for report-ann's 474k, and the foreach kernels (one call
# per operation) do the same arithmetic in fewer, larger calls (docs/performance.md).
OPTIMIZERS: dict[str, tuple[float, Callable]] = {
    "adam": (1e-3, lambda p, lr: torch.optim.Adam(p, lr=lr, eps=1e-7, fused=True)),
    "rmsprop": (1e-3, lambda p, lr: KerasRMSprop(p, lr=lr, rho=0.9, eps=1e-7)),
    # momentum_decay=1: Keras' schedule beta_1 * (1 - 0.5 * 0.96^t); PyTorch's default of 4e-3
    # keeps the momentum factor near 0.45-0.48 for hundreds of steps
    "nadam": (1e-3, lambda p, lr: torch.optim.NAdam(p, lr=lr, eps=1e-7, momentum_decay=1.0, foreach=True)),
    "sgd": (1e-2, lambda p, lr: torch.optim.SGD(p, lr=lr, foreach=True)),
    "adadelta": (1e-3, lambda p, lr: torch.optim.Adadelta(p, lr=lr, rho=0.95, eps=1e-7, foreach=True)),
    "adagrad": (1e-3, lambda p, lr: torch.optim.Adagrad(p, lr=lr, initial_accumulator_value=0.1, eps=1e-7,
                                                        foreach=True)),
}


def _choose(kind: str, name: str, options) -> None:
    if name not in options:
        raise DigitlabError(f"unknown {kind} {name!r}; choose from {', '.join(options)}")


def make_optimizer(name: str, params, lr: float | None) -> torch.optim.Optimizer:
    _choose("optimizer", name, OPTIMIZERS)
    default_lr, build = OPTIMIZERS[name]
    lr = default_lr if lr is None else lr
    if not lr > 0:
        raise DigitlabError(f"learning rate must be positive, not {lr}")
    return build(params, lr)


def default_lr(optimizer: str) -> float:
    _choose("optimizer", optimizer, OPTIMIZERS)
    return OPTIMIZERS[optimizer][0]


def _sparse_ce(logits, y, smoothing=0.0):
    return F.cross_entropy(logits, y, label_smoothing=smoothing)


def _categorical_ce(logits, y, smoothing=0.0):
    # the one-hot form of the same loss, as Keras' categorical_crossentropy receives it
    return F.cross_entropy(logits, F.one_hot(y, 10).to(logits.dtype), label_smoothing=smoothing)


def _kl_divergence(logits, y):
    # Keras clips both distributions to [1e-7, 1] before sum(t * log(t / p))
    p = torch.softmax(logits, 1).clamp(1e-7, 1)
    t = F.one_hot(y, 10).to(logits.dtype).clamp(1e-7, 1)
    return (t * (t.log() - p.log())).sum(1).mean()


def outlier_exposure_loss(logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the outputs against the uniform distribution (Hendrycks et al., 2019):
    on a non-digit the model is taught to favour no digit. Zero-based: it is 0 at uniform."""
    logits = logits.float()
    return (torch.logsumexp(logits, 1) - logits.mean(1)).mean() - math.log(logits.shape[1])


LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "categorical_crossentropy": _categorical_ce,
    "sparse_categorical_crossentropy": _sparse_ce,
    "kl_divergence": _kl_divergence,
}


SMOOTHED_LOSSES = ("sparse_categorical_crossentropy", "categorical_crossentropy")


def loss_fn(name: str, label_smoothing: float = 0.0) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Loss of float32 logits against integer labels, optionally against smoothed targets."""
    _choose("loss", name, LOSSES)
    fn = LOSSES[name]
    if label_smoothing:
        if name not in SMOOTHED_LOSSES:
            raise DigitlabError(f"label smoothing works with {', '.join(SMOOTHED_LOSSES)}, not {name}")
        return lambda logits, y: fn(logits.float(), y, label_smoothing)
    return lambda logits, y: fn(logits.float(), y)


def _onecycle(t: float) -> float:
    # linear warm-up from 0.1 to 1 over the first 25%, then linear decay to 0
    return 0.1 + 0.9 * t / 0.25 if t < 0.25 else max(0.0, (1 - t) / 0.75)


SCHEDULES: dict[str, Callable[[float], float]] = {
    "constant": lambda t: 1.0,
    "onecycle": _onecycle,
    "cosine": lambda t: 0.5 * (1 + math.cos(math.pi * min(t, 1.0))),
}


def lr_at(schedule: str, peak: float, step: int, total_steps: int) -> float:
    """Learning rate of step `step` (0-based) out of `total_steps`: a pure function, so
    a resumed run needs no scheduler state."""
    _choose("schedule", schedule, SCHEDULES)
    return peak * SCHEDULES[schedule](step / max(1, total_steps))
