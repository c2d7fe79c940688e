"""One line per layer, in plain words, of what it does to a digit (after the report's
third chapter, which explains convolution, pooling, dense layers and softmax)."""

from __future__ import annotations

from ..models.spec import Layer


def caption(layer: Layer, shape: tuple[int, ...], last: bool = False) -> str:
    a = layer.args
    if layer.kind == "conv":
        return (f"Convolution: {a['filters']} filters, each a {a['kernel']}x{a['kernel']} pattern (an edge, a curve, "
                "a corner) slid over its input; a map is bright where its pattern is found.")
    if layer.kind == "maxpool":
        return (f"Max pooling: keeps the strongest response in each {a['size']}x{a['size']} block, so the maps shrink "
                "and a stroke moved by a pixel or two changes little.")
    if layer.kind == "avgpool":
        return f"Average pooling: each {a['size']}x{a['size']} block becomes its average, so the maps shrink."
    if layer.kind == "gap":
        return "Global average pooling: each map becomes one number, its average."
    if layer.kind == "flatten":
        return f"Flatten: the maps laid out as one list of {shape[0]:,} numbers for the dense layers."
    if layer.kind == "dense" and last:
        return "Dense output: one score per digit, made from everything before; the highest score wins."
    if layer.kind == "dense":
        return f"Dense: each of {a['units']} units adds up every number of the layer before, each with its own weight."
    if layer.kind == "dropout":
        return (f"Dropout: in training, {a['p']:.0%} of these values are zeroed at random so that no single unit is "
                "relied on; when reading, everything passes through unchanged.")
    if layer.kind == "batchnorm":
        return ("Batch normalization: rescales each channel by statistics learned in training, so the next layer "
                "gets values in a steady range.")
    fn = a["fn"]
    if fn == "relu":
        return "ReLU: keeps the positive responses and sets the negative ones to zero."
    if fn == "leaky_relu":
        return f"LeakyReLU: keeps the positive responses and scales the negative ones down to {a['slope']:g} of their size."
    if fn == "tanh":
        return "tanh: squashes every value into -1..1."
    if fn == "sigmoid":
        return "Sigmoid: squashes every value into 0..1."
    return "Softmax: turns the ten scores into probabilities that add up to 1."
