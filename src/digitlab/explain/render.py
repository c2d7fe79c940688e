"""Pictures of an explanation: feature maps, unit activations and attributions as RGB(A)
arrays and PNG bytes, on one fixed colour scale.

The scale: white is zero, red positive, blue negative, full colour at the layer's
largest magnitude (`scale`), the same for every map of a layer so maps can be
compared with each other; the largest magnitude is over all the layer's maps, also
those not drawn. At most MAX_MAPS maps of a layer are drawn: the ones that respond
most (by mean magnitude), in channel order."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

MAX_MAPS = 64
POSITIVE = np.array([178, 24, 43], np.float32)
NEGATIVE = np.array([33, 102, 172], np.float32)
WHITE = np.array([255, 255, 255], np.float32)


def layer_scale(values: np.ndarray) -> float:
    """The magnitude at which a layer's colours saturate (1 for an all-zero layer)."""
    peak = float(np.abs(values).max()) if values.size else 0.0
    return peak if peak > 0 else 1.0


def _palette() -> np.ndarray:
    """511 colours from -1 (blue) through 0 (white) to +1 (red), in steps of 1/255."""
    t = (np.arange(511, dtype=np.float32) / 255 - 1)[:, None]
    rgb = np.where(t >= 0, WHITE + t * (POSITIVE - WHITE), WHITE - t * (NEGATIVE - WHITE))
    return np.rint(rgb).astype(np.uint8)


PALETTE = _palette()


def colours(values: np.ndarray, scale: float) -> np.ndarray:
    """uint8 RGB (shape + (3,)) for values on the fixed scale: -scale blue, 0 white, +scale red."""
    steps = np.rint(np.clip(values * (255 / scale), -255, 255)).astype(np.int16) + 255
    return PALETTE[steps]


def strongest_maps(values: np.ndarray, limit: int = MAX_MAPS) -> list[int]:
    """The channels of C x H x W maps to draw: the `limit` with the largest mean magnitude,
    in channel order."""
    if len(values) <= limit:
        return list(range(len(values)))
    strength = np.abs(values).reshape(len(values), -1).mean(1)
    return sorted(np.argsort(-strength, kind="stable")[:limit].tolist())


def overlay(values: np.ndarray, scale: float) -> np.ndarray:
    """uint8 RGBA of an attribution map: colour as `colours`, opacity growing with magnitude,
    so it can be laid over the image it explains."""
    rgba = np.empty(values.shape + (4,), np.uint8)
    rgba[..., :3] = colours(np.sign(values) * scale, scale)
    rgba[..., 3] = np.rint(np.clip(np.abs(values) / scale, 0, 1) * 255).astype(np.uint8)
    return rgba


def png(pixels: np.ndarray) -> bytes:
    """PNG bytes of a uint8 gray (H x W), RGB or RGBA array."""
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def grid_columns(count: int) -> int:
    """Columns of a grid of `count` tiles: as square as it gets."""
    return max(1, int(np.ceil(np.sqrt(count))))


def grid(tiles: np.ndarray, columns: int | None = None, zoom: int = 1, gap: int = 1) -> np.ndarray:
    """RGB tiles (N x H x W x 3) in rows of `columns` (white gaps between them), each
    enlarged `zoom` times."""
    if not len(tiles):
        return np.full((1, 1, 3), 255, np.uint8)
    n, columns = len(tiles), columns or grid_columns(len(tiles))
    rows = -(-n // columns)
    tiles = tiles.repeat(zoom, 1).repeat(zoom, 2)
    h, w = tiles.shape[1:3]
    cells = np.full((rows * columns, h + gap, w + gap, 3), 255, np.uint8)
    cells[:n, :h, :w] = tiles
    out = cells.reshape(rows, columns, h + gap, w + gap, 3).transpose(0, 2, 1, 3, 4)
    return np.ascontiguousarray(out.reshape(rows * (h + gap), columns * (w + gap), 3)[:-gap or None, :-gap or None])


def units_strip(values: np.ndarray, scale: float, per_row: int = 64, cell: int = 6) -> np.ndarray:
    """Unit activations as rows of coloured cells (RGB), for a picture of a dense layer."""
    padded = np.full(-(-len(values) // per_row) * per_row, np.nan, np.float32)
    padded[:len(values)] = values
    rgb = colours(np.nan_to_num(padded), scale)
    rgb[np.isnan(padded)] = 255
    rows = rgb.reshape(-1, per_row, 3)
    return rows.repeat(cell, 0).repeat(cell, 1)
