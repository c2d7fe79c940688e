"""How accuracy holds up when test digits are drawn differently from MNIST: rotated,
shifted, scaled, thinner or thicker, noisy, inverted.

Every transform works on a whole float batch N x 1 x H x W (ink high, background 0)
at once. Geometric ones resample with one `affine_grid`/`grid_sample` about the
image centre, so a 90-degree rotation or a whole-pixel shift is exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

ROBUSTNESS_IMAGES = 2000  # default size of the stratified test subset that is transformed


def _resample(images: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Sample `images` at `matrix @ (x, y, 1)` for every output pixel (normalized coordinates)."""
    theta = matrix.to(images.dtype).expand(images.shape[0], 2, 3)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def rotate(images: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate counter-clockwise as seen on screen (rows grow downwards)."""
    a = math.radians(degrees)
    # An output pixel at p shows the input at R(-a) p; with y pointing down, a visual
    # counter-clockwise turn by a is the matrix below.
    return _resample(images, torch.tensor([[math.cos(a), -math.sin(a), 0.0],
                                           [math.sin(a), math.cos(a), 0.0]]))


def shift(images: torch.Tensor, dx: float, dy: float) -> torch.Tensor:
    """Move the content dx pixels right and dy pixels down; what leaves the frame is lost."""
    h, w = images.shape[-2:]
    return _resample(images, torch.tensor([[1.0, 0.0, -2 * dx / w], [0.0, 1.0, -2 * dy / h]]))


def scale(images: torch.Tensor, factor: float) -> torch.Tensor:
    """Enlarge (factor > 1) or shrink the content about the image centre."""
    return _resample(images, torch.tensor([[1 / factor, 0.0, 0.0], [0.0, 1 / factor, 0.0]]))


def dilate(images: torch.Tensor, steps: int = 1) -> torch.Tensor:
    """Thicker strokes: each step is a 3x3 grey-level dilation (max filter)."""
    for _ in range(steps):
        images = F.max_pool2d(images, 3, stride=1, padding=1)
    return images


def erode(images: torch.Tensor, steps: int = 1) -> torch.Tensor:
    """Thinner strokes: each step is a 3x3 grey-level erosion (min filter)."""
    for _ in range(steps):
        images = -F.max_pool2d(-images, 3, stride=1, padding=1)
    return images


def add_noise(images: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    """Gaussian noise of standard deviation `sigma` (in 0..255 pixel units), clipped to 0..255."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(images.shape, generator=g) * sigma
    return (images + noise.to(images.device, images.dtype)).clamp(0, 255)


def invert(images: torch.Tensor) -> torch.Tensor:
    return 255 - images


@dataclass(frozen=True)
class Condition:
    family: str
    level: float | str
    apply: Callable[[torch.Tensor], torch.Tensor]


def standard_conditions() -> list[Condition]:
    """The conditions of the robustness table; each family includes its untouched level."""
    same = lambda x: x  # noqa: E731
    conds = [Condition("rotation", d, (lambda x, d=d: rotate(x, d)) if d else same) for d in (0, 10, 20, 30, 45)]
    conds += [Condition("shift", p, (lambda x, p=p: shift(x, p, p)) if p else same) for p in (0, 2, 4, 6)]
    conds += [Condition("scale", s, (lambda x, s=s: scale(x, s)) if s != 1 else same)
              for s in (0.6, 0.8, 1.0, 1.2, 1.4)]
    conds += [Condition("thickness", "eroded", erode), Condition("thickness", "original", same),
              Condition("thickness", "dilated", dilate), Condition("thickness", "dilated x2",
                                                                   lambda x: dilate(x, 2))]
    conds += [Condition("noise", s, (lambda x, s=s: add_noise(x, s)) if s else same) for s in (0, 25, 50, 100)]
    conds += [Condition("inverted", "no", same), Condition("inverted", "yes", invert)]
    return conds


LEVEL_UNITS = {"rotation": "degrees", "shift": "pixels right and down", "scale": "factor",
               "thickness": "3x3 erosion / dilation", "noise": "Gaussian sigma, 0..255 scale", "inverted": ""}


def robustness_table(predict: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor,
                     labels: torch.Tensor, conditions: list[Condition] | None = None) -> list[dict]:
    """Accuracy under every condition. `predict` maps float images N x 1 x 28 x 28 (0..255) to
    predicted classes; the untouched images are predicted once and shared by every family."""
    x = images.unsqueeze(1).float() if images.dim() == 3 else images.float()
    labels = labels.long()
    clean = None
    rows = []
    for cond in conditions or standard_conditions():
        transformed = cond.apply(x)
        if transformed is x:
            if clean is None:
                clean = float((predict(x) == labels).float().mean())
            accuracy = clean
        else:
            accuracy = float((predict(transformed.round().clamp(0, 255)) == labels).float().mean())
        rows.append({"family": cond.family, "level": cond.level, "accuracy": accuracy})
    return rows


def family_means(rows: list[dict]) -> dict[str, float]:
    """Mean accuracy of each family over its altered levels (the untouched level left out)."""
    untouched = {"rotation": 0, "shift": 0, "scale": 1.0, "thickness": "original", "noise": 0, "inverted": "no"}
    out: dict[str, list[float]] = {}
    for r in rows:
        if r["level"] != untouched.get(r["family"]):
            out.setdefault(r["family"], []).append(r["accuracy"])
    return {k: float(np.mean(v)) for k, v in out.items()}
