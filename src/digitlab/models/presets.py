"""Named models: the report's three and ours. A preset is a registered builder with
its own metadata (spec, input normalization, what it is for)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import DigitlabError
from .build import DigitNet
from .spec import parse_spec

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a model: recorded verbatim in every checkpoint."""

    name: str
    spec: str
    scale: float = 1 / 255
    shift: float = 0.0
    description: str = ""

    def build(self) -> DigitNet:
        return DigitNet(self.spec, self.scale, self.shift)

    def to_json(self) -> dict:
        return {"name": self.name, "spec": self.spec, "scale": self.scale, "shift": self.shift}


_PRESETS: dict[str, Callable[[], ModelSpec]] = {}


def register_preset(fn: Callable[[], ModelSpec]) -> Callable[[], ModelSpec]:
    _PRESETS[fn().name] = fn
    return fn


def list_presets() -> list[ModelSpec]:
    return [fn() for fn in _PRESETS.values()]


def resolve_model(name_or_spec: str) -> ModelSpec:
    """A preset by name, or else a spec string (named after itself, scaled x/255)."""
    if name_or_spec in _PRESETS:
        return _PRESETS[name_or_spec]()
    if "-" not in name_or_spec and not any(ch.isdigit() for ch in name_or_spec):
        raise DigitlabError(
            f"unknown model {name_or_spec!r}: not a preset ({', '.join(_PRESETS)}) and not a spec string"
        )
    parse_spec(name_or_spec)
    return ModelSpec(name=name_or_spec.upper(), spec=name_or_spec.upper())


@register_preset
def report_ann() -> ModelSpec:
    return ModelSpec(
        "report-ann", "F-397-R-397-R-10-SM", scale=1 / 255, shift=-0.5,
        description="the report's MLP: two dense layers of 397 ReLU units on x/255-0.5",
    )


@register_preset
def report_cnn_first() -> ModelSpec:
    return ModelSpec(
        "report-cnn-first", "32C5-R-AP2-F-20-R-10-SM",
        description="the report's first CNN: conv 32 5x5, average pool, dense 20",
    )


@register_preset
def report_cnn_final() -> ModelSpec:
    return ModelSpec(
        "report-cnn-final", "64C3-LR0.08-MP2-D0.2-128C3-LR0.08-MP2-D0.2-F-BN-128U-BN-R-D0.2-BN-10U-BN-SM",
        description="the report's final CNN as its summary table shows it (499,378 parameters)",
    )


@register_preset
def digitlab_cnn() -> ModelSpec:
    return ModelSpec(
        "digitlab-cnn", "32C3P-BN0.9-R-MP2-64C3P-BN0.9-R-MP2-128C3P-BN0.9-R-MP2-F-D0.25-128-R-10",
        scale=1 / (255 * MNIST_STD), shift=-MNIST_MEAN / MNIST_STD,
        description="ours: three conv/BN/ReLU/pool stages, standardized input; the default recipe's model",
    )


@register_preset
def digitlab_cnn_deep() -> ModelSpec:
    # After Chris Deotte's Kaggle study "How to choose CNN Architecture MNIST" (2018): pairs
    # of 3x3 convolutions, a strided 5x5 convolution in place of each pool, batch norm after
    # every convolution and dropout 0.4.
    return ModelSpec(
        "digitlab-cnn-deep",
        "32C3-R-BN0.9-32C3-R-BN0.9-32C5PS2-R-BN0.9-D0.4-64C3-R-BN0.9-64C3-R-BN0.9-64C5PS2-R-BN0.9-D0.4-"
        "128C4-R-BN0.9-F-D0.4-10",
        description="ours, for accuracy: seven convolutions, strided 5x5 ones in place of pools, dropout 0.4; "
                    "the best recipe's model",
    )
