"""The architecture spec: a compact string, one token per Keras-style layer.

Tokens are joined by '-' and read left to right on a 1x28x28 input:

    32C5     Conv2D, 32 filters 5x5, 'valid' padding      32C3P  'same' padding
    32C5S2   ... with stride 2                             MP2 / AP2   max / average pool 2x2
    GAP      global average pool                           F      flatten
    128      Dense 128 (Glorot-uniform, Keras' default)    128U   Dense with 'uniform' init
    D0.2     dropout 0.2                                   BN     batch norm, Keras momentum 0.99
    BN0.9    batch norm with moving-average momentum 0.9 (Keras' sense)
    R        ReLU     LR0.08  LeakyReLU(0.08)   T  tanh    SIG    sigmoid
    SM       softmax: only as the last token

The report's final CNN reads
`64C3-LR0.08-MP2-D0.2-128C3-LR0.08-MP2-D0.2-F-BN-128U-BN-R-D0.2-BN-10U-BN-SM`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import DigitlabError


@dataclass(frozen=True)
class Layer:
    kind: str  # conv, dense, maxpool, avgpool, gap, flatten, dropout, batchnorm, act
    args: dict = field(default_factory=dict)
    token: str = ""


_PATTERNS: list[tuple[re.Pattern, callable]] = [
    (re.compile(r"(\d+)C(\d+)(P?)(?:S(\d+))?"), lambda m: Layer("conv", {
        "filters": int(m[1]), "kernel": int(m[2]), "padding": "same" if m[3] else "valid",
        "stride": int(m[4] or 1)})),
    (re.compile(r"(\d+)(U?)"), lambda m: Layer("dense", {"units": int(m[1]), "init": "uniform" if m[2] else "glorot"})),
    (re.compile(r"MP(\d+)"), lambda m: Layer("maxpool", {"size": int(m[1])})),
    (re.compile(r"AP(\d+)"), lambda m: Layer("avgpool", {"size": int(m[1])})),
    (re.compile(r"GAP"), lambda m: Layer("gap")),
    (re.compile(r"F"), lambda m: Layer("flatten")),
    (re.compile(r"D(\d*\.?\d+)"), lambda m: Layer("dropout", {"p": float(m[1])})),
    (re.compile(r"BN(\d*\.?\d+)?"), lambda m: Layer("batchnorm", {"momentum": float(m[1] or 0.99)})),
    (re.compile(r"R"), lambda m: Layer("act", {"fn": "relu"})),
    (re.compile(r"LR(\d*\.?\d+)"), lambda m: Layer("act", {"fn": "leaky_relu", "slope": float(m[1])})),
    (re.compile(r"T"), lambda m: Layer("act", {"fn": "tanh"})),
    (re.compile(r"SIG"), lambda m: Layer("act", {"fn": "sigmoid"})),
    (re.compile(r"SM"), lambda m: Layer("act", {"fn": "softmax"})),
]

TOKEN_HELP = "nCk[P][Ss] (conv), n[U] (dense), MPk, APk, GAP, F, Dp, BN[m], R, LRa, T, SIG, SM"


def _bad(spec: str, i: int, token: str, why: str) -> DigitlabError:
    return DigitlabError(f"bad token {token!r} (position {i + 1}) in model spec {spec!r}: {why}")


def parse_spec(spec: str) -> list[Layer]:
    """Parse and check a spec string: tokens, value ranges and the order of layers."""
    if not spec or not spec.strip():
        raise DigitlabError("empty model spec; give a preset name or a spec such as 32C5-AP2-F-20-R-10-SM")
    tokens = [t.strip().upper() for t in spec.strip().split("-")]
    layers: list[Layer] = []
    for i, tok in enumerate(tokens):
        for pattern, make in _PATTERNS:
            m = pattern.fullmatch(tok)
            if m:
                layer = make(m)
                break
        else:
            raise _bad(spec, i, tok, f"not a layer; tokens are {TOKEN_HELP}")
        _check_values(spec, i, tok, layer)
        layers.append(Layer(layer.kind, layer.args, tok))
    layer_shapes(spec, layers)
    return layers


def _check_values(spec: str, i: int, tok: str, layer: Layer) -> None:
    a = layer.args
    if layer.kind == "conv" and not (a["filters"] >= 1 and 1 <= a["kernel"] <= 28 and a["stride"] >= 1):
        raise _bad(spec, i, tok, "filters must be >= 1, kernel 1..28, stride >= 1")
    if layer.kind == "conv" and a["padding"] == "same" and a["stride"] > 1 and a["kernel"] % 2 == 0:
        raise _bad(spec, i, tok, "'same' padding with a stride needs an odd kernel")
    if layer.kind == "dense" and a["units"] < 1:
        raise _bad(spec, i, tok, "a dense layer needs at least one unit")
    if layer.kind in ("maxpool", "avgpool") and a["size"] < 1:
        raise _bad(spec, i, tok, "pool size must be >= 1")
    if layer.kind == "dropout" and not 0 <= a["p"] < 1:
        raise _bad(spec, i, tok, "dropout rate must be in [0, 1)")
    if layer.kind == "batchnorm" and not 0 <= a["momentum"] < 1:
        raise _bad(spec, i, tok, "batch-norm momentum must be in [0, 1)")
    if layer.kind == "act" and layer.args["fn"] == "leaky_relu" and not 0 <= a["slope"] < 1:
        raise _bad(spec, i, tok, "LeakyReLU slope must be in [0, 1)")


def layer_shapes(spec: str, layers: list[Layer]) -> list[tuple[int, ...]]:
    """Output shape of every layer (C, H, W) or (N,), checking that each layer fits its input."""
    c, h, w, flat = 1, 28, 28, False
    shapes = []
    for i, layer in enumerate(layers):
        a, tok = layer.args, layer.token
        if layer.kind in ("conv", "maxpool", "avgpool", "gap") and flat:
            raise _bad(spec, i, tok, "needs an image, but the input was already flattened")
        if layer.kind == "dense" and not flat:
            raise _bad(spec, i, tok, "a dense layer needs a flat input: put F (flatten) or GAP before it")
        if layer.kind == "act" and a["fn"] == "softmax" and i != len(layers) - 1:
            raise _bad(spec, i, tok, "softmax (SM) may only be the last token")
        if layer.kind == "conv":
            k, s = a["kernel"], a["stride"]
            if a["padding"] == "valid":
                h, w = (h - k) // s + 1, (w - k) // s + 1
            else:
                h, w = -(-h // s), -(-w // s)
            c = a["filters"]
        elif layer.kind in ("maxpool", "avgpool"):
            h, w = h // a["size"], w // a["size"]
        elif layer.kind == "gap":
            h, w, flat = 1, 1, True
        elif layer.kind == "flatten":
            if flat:
                raise _bad(spec, i, tok, "the input is already flat")
            c, h, w, flat = c * h * w, 1, 1, True
        elif layer.kind == "dense":
            c = a["units"]
        if h < 1 or w < 1:
            raise _bad(spec, i, tok, "the image shrinks to nothing here; use smaller kernels or fewer pools")
        shapes.append((c,) if flat else (c, h, w))
    if not flat or c != 10:
        raise DigitlabError(
            f"model spec {spec!r} must end with 10 outputs, one per digit (e.g. ...-F-10-SM); it ends with "
            f"{'a ' + str(c) + '-feature vector' if flat else 'an image'}"
        )
    return shapes
