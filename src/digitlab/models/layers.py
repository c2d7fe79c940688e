"""Layers with Keras' defaults and a dropout that is fast on the CPU."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class Dropout(nn.Module):
    """Inverted dropout whose mask costs ~1/15 of `bernoulli_` on the CPU.

    CPU random number generation runs at roughly one element per few ns; drawing
    64 random bits at a time and reading them as four 16-bit numbers makes the
    mask cheap. The keep threshold has 1/65536 resolution. On other devices the
    stock kernel is used.
    """

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if x.device.type != "cpu":
            return F.dropout(x, self.p, True)
        n = x.numel()
        bits = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-(2**63), 2**63 - 1)
        r = bits.view(torch.int16)[:n]
        if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
            # lay the mask out as N x H x W x C so it shares x's memory order
            r = r.view(x.shape[0], x.shape[2], x.shape[3], x.shape[1]).permute(0, 3, 1, 2)
        else:
            r = r.view(x.shape)
        keep = r >= int(round(self.p * 65536)) - 32768
        return x * (keep.to(x.dtype) * (1.0 / (1.0 - self.p)))

    def extra_repr(self) -> str:
        return f"p={self.p}"


class _FlattenKeepingLayout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.shape = x.shape
        return x.flatten(1)

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.shape).contiguous(memory_format=torch.channels_last)


class Flatten(nn.Module):
    """nn.Flatten (C, H, W order) whose gradient goes back channels_last when its input was.

    Flattening a channels_last image copies it into C, H, W order, and the gradient comes
    back in that order. The pool and activation before it then see a gradient in one layout
    and their saved input in the other, and PyTorch's CPU kernels take a slow path plus two
    full-size copies: for report-cnn-first at batch 32 that was a third of the step
    (docs/performance.md). Training only: in eval or without grad (export, inference) it
    is the plain flatten.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (self.training and torch.is_grad_enabled() and x.requires_grad and x.dim() == 4
                and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)):
            return _FlattenKeepingLayout.apply(x)
        return x.flatten(1)


def keras_batchnorm(features: int, image: bool, momentum: float = 0.99) -> nn.Module:
    # Keras' momentum m is PyTorch's 1 - m (they weight the other term); Keras' eps is 1e-3.
    cls = nn.BatchNorm2d if image else nn.BatchNorm1d
    return cls(features, eps=1e-3, momentum=1 - momentum)


def init_keras(module: nn.Module, init: str) -> None:
    """Glorot-uniform kernel and zero bias (Keras' default), or U(-0.05, 0.05) for 'uniform'."""
    if init == "uniform":
        nn.init.uniform_(module.weight, -0.05, 0.05)
    else:
        nn.init.xavier_uniform_(module.weight)
    nn.init.zeros_(module.bias)
