"""Digits as other people and other scanners make them: thicker or thinner strokes, blur,
low resolution, a slant, a wobbly hand.

Two uses. Training (`degrade_batch`) changes a random share of a float batch
N x 1 x 28 x 28 in a few batched kernels: each image gets at most one degradation, the
parameters are drawn per image (the depth of thinning once per batch), the images are
grouped so no Python runs per image, and the changed ones are normalized again in batch.
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
from .mnist_style import NOISE_FLOOR, normalize_ink
from .splits import stratified_take

KINDS = ("thick", "thin", "blur", "low-res", "elastic")
# Thick strokes are drawn twice as often as each other kind: people draw small with a wide
# pen, and bold ink must not read as "not a digit" (most bold things in the non-digit bank are).
KIND_WEIGHTS = torch.tensor([2.0, 1.0, 1.0, 1.0, 1.0])


@dataclass(frozen=True)
class DegradeConfig:
    share: float = 0.5  # of the images in a batch, each with one degradation (KIND_WEIGHTS)
    thick: int = 2  # up to this many 3x3 dilations
    blur: float = 1.6  # largest Gaussian sigma, pixels
    low_res: int = 7  # smallest side the 28x28 frame is shrunk to before it is enlarged back
    elastic: float = 2.5  # largest displacement of the smooth random field, pixels
    slant: float = 30.0  # degrees of shear drawn with the elastic field


def _dilate(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, 3, stride=1, padding=1)


def _thin(x: torch.Tensor, steps: int) -> torch.Tensor:
    """Erode `steps` times at four times the resolution: each step takes a quarter pixel off
    each side of a stroke."""
    big = F.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False)
    return F.avg_pool2d(_min_filter(big, steps), 4)


def _min_filter(x: torch.Tensor, r: int) -> torch.Tensor:
    """Grey-level erosion by a (2r+1) square, the same as r 3x3 erosions: running minima of
    shifted views along each axis (CPU max-pooling with stride 1 is several times slower)."""
    h, w = x.shape[-2:]
    padded = F.pad(x, (r, r, r, r), value=float("inf"))
    rows = padded[..., :, 0:w]
    for d in range(1, 2 * r + 1):
        rows = torch.minimum(rows, padded[..., :, d:d + w])
    out = rows[..., 0:h, :]
    for d in range(1, 2 * r + 1):
        out = torch.minimum(out, rows[..., d:d + h, :])
    return out


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
    """Each image as the predictor would normalize it (a batched `mnist_style.to_mnist`, one
    `grid_sample`): peak scaled to 255, ink under the noise floor dropped, the ink's box
    fitted into 20x20 and the centre of mass put at the centre.
    Without the refit, a thickened or blurred digit is larger than the 20x20 box every
    normalized non-digit fills, and size alone would tell them apart in training."""
    n, _, h, w = x.shape
    peak = x.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    x = x * (255 / peak)
    x = torch.where(x < NOISE_FLOOR * 255, torch.zeros_like(x), x)
    ink = x[:, 0] > 0
    rows, cols = ink.any(2), ink.any(1)
    ar_h, ar_w = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    height = torch.where(rows, ar_h, -1).amax(1) - torch.where(rows, ar_h, h).amin(1) + 1
    width = torch.where(cols, ar_w, -1).amax(1) - torch.where(cols, ar_w, w).amin(1) + 1
    scale = 20 / torch.maximum(height, width).clamp_min(1).to(x.dtype)  # output pixels per input pixel
    mass = x[:, 0].sum((1, 2)).clamp_min(1e-6)
    cy = (x[:, 0].sum(2) * (ar_h + 0.5)).sum(1) / mass  # centre of mass, pixel-centre coordinates
    cx = (x[:, 0].sum(1) * (ar_w + 0.5)).sum(1) / mass
    theta = torch.zeros(n, 2, 3, dtype=x.dtype, device=x.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1 / scale
    theta[:, 0, 2] = cx / (w / 2) - 1
    theta[:, 1, 2] = cy / (h / 2) - 1
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def degrade_batch(x: torch.Tensor, cfg: DegradeConfig, generator: torch.Generator) -> torch.Tensor:
    """A copy of float batch `x` (N x 1 x 28 x 28, 0..255) with a random share degraded."""
    n = x.shape[0]
    chosen = torch.rand(n, generator=generator) < cfg.share
    kind = torch.multinomial(KIND_WEIGHTS, n, replacement=True, generator=generator)
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
            sub = _thin(sub, int(torch.randint(1, 5, (), generator=generator)))
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
        return _min_filter(F.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False), 3)
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
