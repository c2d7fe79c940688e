"""Turn a parsed spec into an nn.Module. Knows nothing about training."""

from __future__ import annotations

import torch
import torch.nn as nn

from .layers import Dropout, Flatten, init_keras, keras_batchnorm
from .spec import Layer, layer_shapes, parse_spec

_ACTIVATIONS = {
    "relu": lambda a: nn.ReLU(),
    "leaky_relu": lambda a: nn.LeakyReLU(a["slope"]),
    "tanh": lambda a: nn.Tanh(),
    "sigmoid": lambda a: nn.Sigmoid(),
}
_MONOTONE = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid)


class DigitNet(nn.Module):
    """A stack of layers, one per spec token, from pixel values (0..255) to 10 logits.

    The input normalization `x * scale + shift` is part of the model, so every
    consumer feeds raw pixels. A trailing softmax token is not a module: the
    network returns logits, and probabilities are `softmax(logits)`.
    """

    def __init__(self, spec: str, scale: float = 1 / 255, shift: float = 0.0):
        super().__init__()
        self.spec, self.scale, self.shift = spec, scale, shift
        self.layers = nn.ModuleList()
        self.tokens: list[str] = []
        layers = parse_spec(spec)
        inputs = [(1, 28, 28)] + layer_shapes(spec, layers)[:-1]
        for layer, shape in zip(layers, inputs):
            module = _make(layer, shape)
            if module is not None:
                self.layers.append(module)
                self.tokens.append(layer.token)
        self.plan = _execution_order(list(self.layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.scale + self.shift
        for i in self.plan:
            x = self.layers[i](x)
        return x


def _make(layer: Layer, in_shape: tuple[int, ...]) -> nn.Module | None:
    a, channels, image = layer.args, in_shape[0], len(in_shape) == 3
    if layer.kind == "conv":
        pad: int | str = 0
        if a["padding"] == "same":
            pad = "same" if a["stride"] == 1 else a["kernel"] // 2
        m = nn.Conv2d(channels, a["filters"], a["kernel"], stride=a["stride"], padding=pad)
        init_keras(m, "glorot")
        return m
    if layer.kind == "dense":
        m = nn.Linear(channels, a["units"])
        init_keras(m, a["init"])
        return m
    if layer.kind == "maxpool":
        return nn.MaxPool2d(a["size"])
    if layer.kind == "avgpool":
        return nn.AvgPool2d(a["size"])
    if layer.kind == "gap":
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    if layer.kind == "flatten":
        return Flatten()
    if layer.kind == "dropout":
        return Dropout(a["p"])
    if layer.kind == "batchnorm":
        return keras_batchnorm(channels, image, a["momentum"])
    if a["fn"] == "softmax":
        return None
    return _ACTIVATIONS[a["fn"]](a)


def _execution_order(layers: list[nn.Module]) -> list[int]:
    """Layer order for forward(): a monotone activation followed by a max pool runs
    after the pool instead. max(f(x)) == f(max(x)) for increasing f, so the result is
    identical while the activation touches 4x fewer values."""
    order = list(range(len(layers)))
    i = 0
    while i < len(order) - 1:
        if isinstance(layers[order[i]], _MONOTONE) and isinstance(layers[order[i + 1]], nn.MaxPool2d):
            order[i], order[i + 1] = order[i + 1], order[i]
            i += 2
        else:
            i += 1
    return order
