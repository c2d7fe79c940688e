"""What each layer of a model outputs for one input, in the order the spec lists them.

The model's own forward may run a monotone activation after the max pool that follows
it (the same result, cheaper: models/build.py); here every layer runs in spec order,
so each output is exactly what that layer of the spec produces."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..models.build import DigitNet
from ..models.inference import eval_mode
from ..models.spec import layer_shapes, parse_spec
from ..models.summary import keras_name
from .captions import caption


@dataclass
class LayerOutput:
    index: int  # position in the spec, from 0
    token: str  # the spec token, e.g. 64C3
    name: str  # the Keras class name, e.g. Conv2D
    kind: str  # conv, dense, maxpool, avgpool, gap, flatten, dropout, batchnorm, act
    caption: str
    values: np.ndarray  # float32: C x H x W for maps, N for units

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.values.shape)

    @property
    def is_maps(self) -> bool:
        return self.values.ndim == 3


def layer_outputs(model: DigitNet, image: np.ndarray) -> list[LayerOutput]:
    """Every layer's output for one uint8 28x28 image (ink high, as MNIST), the trailing
    softmax included, computed in fp32 in evaluation mode."""
    layers = parse_spec(model.spec)
    shapes = layer_shapes(model.spec, layers)
    last_dense = max((i for i, layer in enumerate(layers) if layer.kind == "dense"), default=-1)
    device = next(model.parameters()).device
    x = torch.as_tensor(image, dtype=torch.float32, device=device).reshape(1, 1, 28, 28)
    modules = iter(model.layers)
    out: list[LayerOutput] = []
    with eval_mode(model), torch.no_grad():
        x = x * model.scale + model.shift
        for i, (layer, shape) in enumerate(zip(layers, shapes)):
            if layer.kind == "act" and layer.args["fn"] == "softmax":
                x = torch.softmax(x, 1)
            else:
                x = next(modules)(x)
            out.append(LayerOutput(i, layer.token, keras_name(layer), layer.kind,
                                   caption(layer, shape, last=i == last_dense), x[0].float().cpu().numpy()))
    return out
