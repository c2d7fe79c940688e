"""Batched inference on raw uint8 images: no per-image Python."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from ..device import autocast


def has_conv(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.Conv2d) for m in model.modules())


def place_model(model: torch.nn.Module, device: torch.device | str) -> torch.nn.Module:
    """Move a model to `device`, channels_last when it has convolutions: CPU conv and
    max-pool kernels are several times faster in that layout, and a conv keeps the
    layout of its weights, so weights and inputs must both be channels_last."""
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if has_conv(model) else model


def as_model_input(images: torch.Tensor, model: torch.nn.Module, device: torch.device) -> torch.Tensor:
    """uint8 N x 28 x 28 (or N x 1 x 28 x 28) -> float N x 1 x 28 x 28 on `device`, channels_last for CNNs."""
    x = images.to(device, non_blocking=True)
    if x.dim() == 3:
        x = x.unsqueeze(1)
    x = x.float()
    return x.contiguous(memory_format=torch.channels_last) if has_conv(model) else x


@contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """The model in evaluation mode (dropout off, batch norm on its running statistics),
    put back in the mode it was in afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@torch.no_grad()
def predict_logits(model: torch.nn.Module, images: torch.Tensor, device: torch.device,
                   precision: str = "fp32", batch_size: int = 256) -> torch.Tensor:
    """Float32 logits (N x 10, on the CPU) for uint8 images, in eval mode."""
    out = []
    with eval_mode(model):
        for start in range(0, len(images), batch_size):
            x = as_model_input(images[start:start + batch_size], model, device)
            with autocast(device, precision):
                out.append(model(x).float().cpu())
    return torch.cat(out) if out else torch.empty(0, 10)


# Test-time augmentation: the image itself and copies moved one pixel each way. Digits in
# MNIST are centred by their centre of mass, so a model trained with shifts has seen these
# positions, and averaging its probabilities over them smooths out decisions that hinge on
# exact placement.
TTA_SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))


def shift_images(x: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """Move a N x C x H x W batch by whole pixels (right and down are positive), filling with 0."""
    if dx == 0 and dy == 0:
        return x
    h, w = x.shape[-2:]
    padded = torch.nn.functional.pad(x, (max(dx, 0), max(-dx, 0), max(dy, 0), max(-dy, 0)))
    top, left = max(-dy, 0), max(-dx, 0)
    return padded[..., top:top + h, left:left + w]


@torch.no_grad()
def predict_probs(models: list[torch.nn.Module], images: torch.Tensor, device: torch.device,
                  precision: str = "fp32", tta: bool = False) -> torch.Tensor:
    """Float32 class probabilities (N x 10, on the CPU) averaged over `models` and, with
    `tta`, over the shifted views in TTA_SHIFTS: one model without TTA gives its softmax."""
    shifts = TTA_SHIFTS if tta else TTA_SHIFTS[:1]
    images = images.unsqueeze(1) if images.dim() == 3 else images
    total = torch.zeros(len(images), 10)
    for dx, dy in shifts:
        view = shift_images(images, dx, dy)
        for model in models:
            total += torch.softmax(predict_logits(model, view, device, precision), 1)
    return total / (len(models) * len(shifts))
