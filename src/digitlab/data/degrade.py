"""Digits as other people and other scanners make them: thicker or thinner strokes, blur,
low resolution, a slant, a wobbly hand.

Two uses. Training (`degrade_batch`) changes a random share of a float batch
N x 1 x 28 x 28 in a few batched kernels: each image gets at most one degradation, the
parameters are drawn per image, and the images are grouped so no Python runs per image.
Evaluation and rejection calibration (`degraded_digits`) apply fixed, named degradations
and then normalize each result as the predictor normalizes a real drawing, so the figures
say what a person sending such a digit would see.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import DigitlabError
from .mnist_style import normalize_ink
from .splits import stratified_take

KINDS = ("thick", "thin", "blur", "low-res", "elastic")


@dataclass(frozen=True)
class DegradeConfig:
    share: float = 0.5  # of the images in a batch, each with one degradation drawn uniformly
    thick: int = 2  # up to this many 3x3 dilations
    blur: float = 1.6  # largest Gaussian sigma, pixels
    low_res: int = 7  # smallest side the 28x28 frame is shrunk to before it is enlarged back
    elastic: float = 2.5  # largest displacement of the smooth random field, pixels
    slant: float = 20.0  # degrees of shear drawn with the elastic field


def _dilate(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, 3, stride=1, padding=1)


def _thin(x: torch.Tensor) -> torch.Tensor:
    """Erode at twice the resolution: strokes lose about half a pixel on each side."""
    big = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    big = -F.max_pool2d(-big, 3, stride=1, padding=1)
    return F.avg_pool2d(big, 2)


def _gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Blur image k with its own sigma[k]: one grouped convolution."""
    n = x.shape[0]
    radius = 4
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k1 = torch.exp(-t[None] ** 2 / (2 * sigma[:, None].to(x.dtype) ** 2))
    k1 = k1 / k1.sum(1, keepdim=True)
    kernel = (k1[:, :, None] * k1[:, None, :]).unsqueeze(1)  # n x 1 x k x k
    out = F.conv2d(x.reshape(1, n, *x.shape[-2:]), kernel, padding=radius, groups=n)
    return out.reshape(x.shape)


def _down_up(x: torch.Tensor, side: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    small = F.interpolate(x, size=(side, side), mode="area")
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)


def _elastic(x: torch.Tensor, alpha: float, slant: float, generator: torch.Generator) -> torch.Tensor:
    """A shear (a slanted hand) and a smooth random displacement (a wobbly one), one resample."""
    n, _, h, w = x.shape
    shear = torch.tan(torch.deg2rad((torch.rand(n, generator=generator) * 2 - 1) * slant))
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = 1
    theta[:, 0, 1] = shear
    theta[:, 1, 1] = 1
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    coarse = torch.randn(n, 2, 4, 4, generator=generator).to(x.device, x.dtype)
    field = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False)
    scale = torch.rand(n, 1, 1, 1, generator=generator).to(x.device, x.dtype) * alpha * 2 / w  # pixels -> [-1, 1]
    grid = grid + (field * scale).permute(0, 2, 3, 1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _as_seen(x: torch.Tensor) -> torch.Tensor:
    """Scale each image's peak back to 255, as the predictor's ink map does for a real image."""
    peak = x.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    return x * (255 / peak)


def degrade_batch(x: torch.Tensor, cfg: DegradeConfig, generator: torch.Generator) -> torch.Tensor:
    """A copy of float batch `x` (N x 1 x 28 x 28, 0..255) with a random share degraded."""
    n = x.shape[0]
    chosen = torch.rand(n, generator=generator) < cfg.share
    kind = torch.randint(len(KINDS), (n,), generator=generator)
    out = x.clone()
    for k, name in enumerate(KINDS):
        idx = torch.nonzero(chosen & (kind == k)).flatten()
        if len(idx) == 0:
            continue
        sub = x[idx.to(x.device)]
        if name == "thick":
            sub = _dilate(sub)
            twice = torch.rand(len(idx), generator=generator) < (cfg.thick - 1) / max(cfg.thick, 1)
            sub = torch.where(twice.to(x.device)[:, None, None, None], _dilate(sub), sub)
        elif name == "thin":
            sub = _thin(sub)
        elif name == "blur":
            sigma = 0.5 + torch.rand(len(idx), generator=generator) * (cfg.blur - 0.5)
            sub = _gaussian_blur(sub, sigma.to(x.device))
        elif name == "low-res":
            sides = torch.randint(cfg.low_res, 17, (len(idx),), generator=generator)
            for side in sides.unique().tolist():
                at = (sides == side).to(x.device)
                sub[at] = _down_up(sub[at], side)
        else:
            sub = _elastic(sub, cfg.elastic, cfg.slant, generator)
        out[idx.to(x.device)] = _as_seen(sub)
    return out


# --- fixed degradations for evaluation and calibration -----------------------------------------

# name -> what it does; each is applied to a 28x28 digit, then the result is normalized
# as a real drawing would be (its ink box fitted into 20x20 again).
DEGRADATIONS = {
    "low-res 8px": "the digit shrunk to about 8 pixels high (the 28x28 frame to 11x11), then enlarged back",
    "blur": "Gaussian blur, sigma 1.5 pixels",
    "thick": "strokes about 2 pixels thicker (a 3x3 dilation)",
    "thin": "strokes thinned by three 3x3 erosions at 4x the resolution",
    "slant": "sheared 25 degrees to the right",
}


def _apply_named(x: torch.Tensor, name: str) -> torch.Tensor:
    if name == "low-res 8px":
        return F.interpolate(F.interpolate(x, size=(11, 11), mode="area"), size=(44, 44), mode="bilinear",
                             align_corners=False)
    if name == "blur":
        return _gaussian_blur(x, torch.full((x.shape[0],), 1.5))
    if name == "thick":
        return _dilate(x)
    if name == "thin":
        big = F.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False)
        for _ in range(3):
            big = -F.max_pool2d(-big, 3, stride=1, padding=1)
        return big
    if name == "slant":
        theta = torch.tensor([[[1.0, float(np.tan(np.radians(25))), 0.0], [0.0, 1.0, 0.0]]]).expand(x.shape[0], 2, 3)
        padded = F.pad(x, (8, 8, 0, 0))
        grid = F.affine_grid(theta, list(padded.shape), align_corners=False)
        return F.grid_sample(padded, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    raise DigitlabError(f"unknown degradation {name!r}; choose from {', '.join(DEGRADATIONS)}")


def degraded_sets(images: torch.Tensor, labels: torch.Tensor, n: int, seed: int) -> dict[str, tuple]:
    """A stratified `n` of the digits under each degradation: name -> (images, labels)."""
    picked, _ = stratified_take(labels, min(n, len(labels)), seed=seed)
    return {name: (degraded_digits(images[picked], name), labels[picked]) for name in DEGRADATIONS}


def degraded_digits(images: torch.Tensor, name: str) -> torch.Tensor:
    """uint8 N x 28 x 28 digits -> the same digits degraded by `name` and normalized again
    (uint8 N x 28 x 28). A digit that no ink survives stays as it was."""
    x = images.reshape(-1, 1, 28, 28).float() / 255
    degraded = _apply_named(x, name).squeeze(1).numpy()
    out = images.reshape(-1, 28, 28).clone()
    for i, ink in enumerate(degraded):
        normalized = normalize_ink(ink)
        if normalized is not None:
            out[i] = torch.from_numpy(normalized)
    return out
