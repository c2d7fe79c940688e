"""One reading explained: every layer's output, the probabilities and an attribution map,
for one 28x28 input and any model digitlab builds; `describe` gives the numbers as JSON
and the pictures come from render.py (the web API sends them as data URLs, `digitlab
explain` writes them as files)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..models.build import DigitNet
from . import render
from .attribution import Attribution, integrated_gradients
from .layers import LayerOutput, layer_outputs

SIGNIFICANT = 5  # digits kept of each unit activation in JSON


@dataclass
class Explanation:
    image: np.ndarray  # uint8 28 x 28, ink high: what the model saw
    digit: int  # the digit explained (the model's answer unless another was asked for)
    probabilities: np.ndarray  # the ten, from the same fp32 pass as the layers
    layers: list[LayerOutput]
    attribution: Attribution


def explain_digit(model: DigitNet, image: np.ndarray, target: int | None = None) -> Explanation:
    layers = layer_outputs(model, image)
    final = layers[-1].values.astype(np.float64)
    if layers[-1].token != "SM":
        final = np.exp(final - final.max())
        final /= final.sum()
    digit = int(np.argmax(final)) if target is None else int(target)
    return Explanation(image, digit, final.astype(np.float32), layers, integrated_gradients(model, image, digit))


def _rounded(values: np.ndarray) -> list[float]:
    """Values to SIGNIFICANT digits (as floats, so JSON stays short)."""
    v = values.astype(np.float64)
    magnitude = np.floor(np.log10(np.abs(np.where(v == 0, 1, v))))
    factor = 10.0 ** (SIGNIFICANT - 1 - magnitude)
    return (np.round(v * factor) / factor).tolist()


def describe_layer(layer: LayerOutput) -> dict:
    """A layer's name, kind, shape, caption and colour scale; for maps the channels drawn
    (render.MAX_MAPS at most), for units their values."""
    entry = {"index": layer.index, "token": layer.token, "name": layer.name, "kind": layer.kind,
             "shape": list(layer.shape), "caption": layer.caption, "scale": render.layer_scale(layer.values)}
    if layer.is_maps:
        entry["channels"] = render.strongest_maps(layer.values)
        entry["columns"] = render.grid_columns(len(entry["channels"]))
    else:
        entry["values"] = _rounded(layer.values)
    return entry


def describe(explanation: Explanation) -> dict:
    a = explanation.attribution
    return {"digit": explanation.digit, "probabilities": _rounded(explanation.probabilities),
            "layers": [describe_layer(layer) for layer in explanation.layers],
            "attribution": {"method": a.method, "target": a.target, "steps": a.steps,
                            "scale": render.layer_scale(a.values), "log_prob": a.log_prob,
                            "blank_log_prob": a.blank_log_prob, "completeness_error": a.completeness_error}}


GAP = 1  # pixels between the maps of a grid (times the zoom in `layer_picture`)


def map_grid(layer: LayerOutput, channels: list[int], zoom: int = 1) -> np.ndarray:
    """RGB: the layer's maps of `channels` (as `describe_layer` lists them) in rows of
    `render.grid_columns(count)`, each map enlarged `zoom` times, GAP * zoom white pixels apart."""
    tiles = render.colours(layer.values[channels], render.layer_scale(layer.values))
    return render.grid(tiles, zoom=zoom, gap=GAP * zoom)


def layer_picture(layer: LayerOutput, shown: dict) -> np.ndarray:
    """One RGB picture of a layer (`shown`: its `describe_layer` entry), large enough to look
    at: its drawn maps in a grid, or its units as coloured cells."""
    if not layer.is_maps:
        return render.units_strip(layer.values, shown["scale"])
    return map_grid(layer, shown["channels"], zoom=max(1, 56 // layer.shape[1]))


def attribution_overlay(explanation: Explanation) -> np.ndarray:
    """RGBA 28 x 28: the attribution, transparent where it is zero."""
    values = explanation.attribution.values
    return render.overlay(values, render.layer_scale(values))


def attribution_picture(explanation: Explanation, zoom: int = 8) -> np.ndarray:
    """RGB: the input in gray (ink dark) with the attribution laid over it, enlarged."""
    base = (255 - explanation.image.astype(np.float32) * 0.6)[..., None].repeat(3, 2)
    top = attribution_overlay(explanation).astype(np.float32)
    alpha = top[..., 3:] / 255
    mixed = np.rint(base * (1 - alpha) + top[..., :3] * alpha).astype(np.uint8)
    return mixed.repeat(zoom, 0).repeat(zoom, 1)
