"""A Keras-style summary: each layer's output shape and parameters, and the totals.

Trainable parameters are those the optimizer updates; non-trainable ones are the
batch-norm moving mean and variance, counted as Keras counts them."""

from __future__ import annotations

import torch.nn as nn

from .presets import ModelSpec
from .spec import Layer, layer_shapes, parse_spec


def _counts(module: nn.Module | None) -> tuple[int, int]:
    if module is None:
        return 0, 0
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in module.parameters() if not p.requires_grad)
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.track_running_stats:
        frozen += module.running_mean.numel() + module.running_var.numel()
    return trainable, frozen


_NAMES = {"conv": "Conv2D", "dense": "Dense", "maxpool": "MaxPooling2D", "avgpool": "AveragePooling2D",
          "gap": "GlobalAveragePooling2D", "flatten": "Flatten", "dropout": "Dropout",
          "batchnorm": "BatchNormalization", "act": "Activation"}


def keras_name(layer: Layer) -> str:
    """The layer's class name in Keras: Conv2D, MaxPooling2D, ReLU, Activation(tanh), ..."""
    if layer.kind == "act":
        return {"relu": "ReLU", "leaky_relu": "LeakyReLU"}.get(layer.args["fn"], f"Activation({layer.args['fn']})")
    return _NAMES[layer.kind]


def summarize(model_spec: ModelSpec) -> dict:
    model = model_spec.build()
    layers = parse_spec(model_spec.spec)
    shapes = layer_shapes(model_spec.spec, layers)
    modules = iter(model.layers)
    rows = []
    for layer, shape in zip(layers, shapes):
        is_softmax = layer.kind == "act" and layer.args["fn"] == "softmax"
        module = None if is_softmax else next(modules)
        trainable, frozen = _counts(module)
        kind = keras_name(layer)
        keras_shape = [*shape[1:], shape[0]]  # Keras prints channels last: (H, W, C)
        rows.append({"layer": kind, "token": layer.token, "output_shape": keras_shape,
                     "params": trainable + frozen, "trainable": trainable, "non_trainable": frozen})
    trainable = sum(r["trainable"] for r in rows)
    frozen = sum(r["non_trainable"] for r in rows)
    return {"name": model_spec.name, "spec": model_spec.spec, "layers": rows,
            "trainable_params": trainable, "non_trainable_params": frozen,
            "total_params": trainable + frozen}


def format_summary(summary: dict) -> str:
    line = "-" * 66
    out = [f'Model: "{summary["name"]}"   spec {summary["spec"]}', line,
           f'{"Layer (type)":<30}{"Output Shape":<22}{"Param #":>12}', "=" * 66]
    for r in summary["layers"]:
        shape = "(None, " + ", ".join(map(str, r["output_shape"])) + ")"
        out.append(f'{r["layer"] + " [" + r["token"] + "]":<30}{shape:<22}{r["params"]:>12,}')
    out += ["=" * 66,
            f'Total params: {summary["total_params"]:,}',
            f'Trainable params: {summary["trainable_params"]:,}',
            f'Non-trainable params: {summary["non_trainable_params"]:,}', line]
    return "\n".join(out)
