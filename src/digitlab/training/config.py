"""The full configuration of a training run, and the named recipes built from it.

A run writes its whole config into every checkpoint, so any result can be traced
to the exact settings that made it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace

from ..data.augment import AugmentConfig
from ..data.degrade import DegradeConfig
from ..data.negatives import NegativesConfig
from ..device import PRECISIONS
from ..errors import DigitlabError
from ..runs.split import SPLIT_SEED, VAL_SIZE
from .registry import LOSSES, OPTIMIZERS, SCHEDULES, SMOOTHED_LOSSES, default_lr


@dataclass(frozen=True)
class TrainConfig:
    model: str = "digitlab-cnn"  # preset name or spec string
    optimizer: str = "adam"
    lr: float | None = None  # None: the optimizer's Keras default
    schedule: str = "constant"
    loss: str = "sparse_categorical_crossentropy"
    label_smoothing: float = 0.0  # targets (1 - s) on the label plus s/10 on every class, as Keras' option
    batch_size: int = 32
    epochs: int = 10
    augment: AugmentConfig | None = None
    val_size: int = VAL_SIZE
    subset: int | None = None  # train on this many images (stratified) for quick runs
    seed: int = 0
    split_seed: int = SPLIT_SEED  # fixes the validation split and the subset across seeds
    precision: str = "auto"
    recipe: str | None = None
    folds: int | None = None  # K-fold cross-validation: validate on fold `fold` of the 60k instead
    fold: int | None = None
    negatives: NegativesConfig | None = None  # generated non-digits, for the "not a digit" score
    degrade: DegradeConfig | None = None  # digits as other writers and scanners make them

    def __post_init__(self):
        checks = [
            (self.optimizer in OPTIMIZERS, f"optimizer {self.optimizer!r}; choose from {', '.join(OPTIMIZERS)}"),
            (self.loss in LOSSES, f"loss {self.loss!r}; choose from {', '.join(LOSSES)}"),
            (0 <= self.label_smoothing < 1 and (self.label_smoothing == 0 or self.loss in SMOOTHED_LOSSES),
             f"label smoothing {self.label_smoothing}: must be in [0, 1), and only with {', '.join(SMOOTHED_LOSSES)}"),
            (self.schedule in SCHEDULES, f"schedule {self.schedule!r}; choose from {', '.join(SCHEDULES)}"),
            (self.precision in PRECISIONS, f"precision {self.precision!r}; choose from {', '.join(PRECISIONS)}"),
            (self.batch_size >= 2, f"batch size {self.batch_size}: must be at least 2"),
            (self.epochs >= 1, f"epochs {self.epochs}: must be at least 1"),
            (self.lr is None or self.lr > 0, f"learning rate {self.lr}: must be positive"),
            (0 < self.val_size < 60000, f"validation size {self.val_size}: must be between 1 and 59999"),
            (self.subset is None or 10 <= self.subset <= 60000 - self._held_out(),
             f"subset {self.subset}: must be between 10 and {60000 - self._held_out()} (60k minus the validation "
             "set)"),
            (self.folds is None or 2 <= self.folds <= 100, f"folds {self.folds}: must be between 2 and 100"),
            ((self.folds is None) == (self.fold is None) and (self.fold is None or 0 <= self.fold < self.folds),
             f"fold {self.fold} of {self.folds}: give both, with 0 <= fold < folds"),
            (self.negatives is None or (0 < self.negatives.share <= 4 and self.negatives.weight > 0
                                        and self.negatives.bank >= 10),
             f"negatives {self.negatives}: share in (0, 4], weight > 0, bank of at least 10 images"),
            (self.degrade is None or 0 < self.degrade.share <= 1,
             f"degrade share {self.degrade and self.degrade.share}: must be in (0, 1]"),
        ]
        for ok, message in checks:
            if not ok:
                raise DigitlabError(f"bad training setting: {message}")

    def _held_out(self) -> int:
        return 60000 // self.folds + 1 if self.folds else self.val_size

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    def describe(self) -> str:
        """One line a person reads: model, optimizer, schedule, batch, epochs, augmentation."""
        aug = "off" if self.augment is None else ", ".join(f"{k} {v:g}" for k, v in vars(self.augment).items() if v)
        extra = f", label smoothing {self.label_smoothing:g}" if self.label_smoothing else ""
        if self.degrade is not None:
            extra += f", {self.degrade.share:.0%} of digits degraded"
        if self.negatives is not None:
            extra += f", non-digits {self.negatives.share:.0%} of each batch (weight {self.negatives.weight:g})"
        return (f"{self.model}, {self.optimizer} lr {self.lr if self.lr is not None else default_lr(self.optimizer):g} "
                f"{self.schedule}, batch {self.batch_size}, {self.epochs} epoch{'s' if self.epochs != 1 else ''}, "
                f"augmentation {aug}{extra}")

    @classmethod
    def from_json(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**nested_settings({k: v for k, v in d.items() if k in known}))


NESTED = {"augment": AugmentConfig, "negatives": NegativesConfig, "degrade": DegradeConfig}


def nested_settings(settings: dict) -> dict:
    """Settings with the nested configs (augmentation, non-digits, degradation) as objects:
    a table of values, or true for the defaults and false for none."""
    out = dict(settings)
    for key, kind in NESTED.items():
        value = out.get(key)
        if value is True:
            out[key] = kind()
        elif value is False:
            out[key] = None
        elif isinstance(value, dict):
            unknown = sorted(set(value) - {f.name for f in dataclasses.fields(kind)})
            if unknown:
                raise DigitlabError(f"bad training setting: {key} has no setting(s) {unknown}; it has "
                                    f"{', '.join(f.name for f in dataclasses.fields(kind))}")
            out[key] = kind(**value)
    return out


REPORT_AUGMENT = AugmentConfig()  # shear 0.1, width shift 0.02, rotation 8, zoom 0.08

RECIPES: dict[str, TrainConfig] = {
    # `make run`: our recommended recipe, about two minutes on a 2-core CPU.
    # It also learns to say "not a digit" (generated non-digits, Outlier Exposure) and to read
    # thick, thin, blurred, low-resolution and slanted digits (docs/open-set.md).
    "default": TrainConfig(
        model="digitlab-cnn", optimizer="adam", lr=3e-3, schedule="onecycle", batch_size=128, epochs=6,
        augment=AugmentConfig(rotation=8, width_shift=0.06, height_shift=0.06, shear=0, zoom=0.08),
        negatives=NegativesConfig(), degrade=DegradeConfig(share=0.4),
    ),
    # Shortest time to 99% test accuracy here: one epoch, no augmentation, a small CNN whose
    # batch norm runs after the pool (4x fewer values to normalize), one-cycle Adam. Batch
    # 250 divides the 55,000 training images, so no odd-sized last batch costs a new set of
    # oneDNN kernels. Label smoothing 0.05 added 0.18 points of median validation accuracy
    # over seeds 0-2 at no cost in time. Chosen on validation accuracy (docs/performance.md).
    "fast": TrainConfig(
        model="32C5-MP2-BN0.9-R-64C3-MP2-BN0.9-R-F-256-R-10", optimizer="adam", lr=5e-3, schedule="onecycle",
        batch_size=250, epochs=1, label_smoothing=0.05,
    ),
    # The most accurate single model here within 30 minutes of training: a deeper CNN with
    # dropout, stronger augmentation (Deotte's ranges) and 60 one-cycle epochs.
    # docs/performance.md has the validation runs that chose it.
    "best": TrainConfig(
        model="digitlab-cnn-deep", optimizer="adam", lr=3e-3, schedule="onecycle", batch_size=128, epochs=60,
        augment=AugmentConfig(rotation=10, width_shift=0.1, height_shift=0.1, shear=0, zoom=0.1),
        negatives=NegativesConfig(), degrade=DegradeConfig(),
    ),
    # The report's three reproductions (docs/reproduction.md). The MLP trains in fp32: at its
    # batch of 32, bf16's casts cost more than they save (18,300 -> 23,100-23,300 images/s in
    # benchmarks/keras_reference.py; docs/performance.md).
    "report-ann": TrainConfig(model="report-ann", optimizer="adam", batch_size=32, epochs=6, precision="fp32"),
    "report-cnn-first": TrainConfig(model="report-cnn-first", optimizer="adam", batch_size=32, epochs=6),
    "report-cnn-final": TrainConfig(
        model="report-cnn-final", optimizer="adam", lr=0.01, batch_size=256, epochs=20, augment=REPORT_AUGMENT,
    ),
}


def recipe(name: str, **overrides) -> TrainConfig:
    """A named recipe with some settings replaced (those given as None are left alone)."""
    if name not in RECIPES:
        raise DigitlabError(f"unknown recipe {name!r}; choose from {', '.join(RECIPES)}")
    changes = {k: v for k, v in overrides.items() if v is not None}
    return replace(RECIPES[name], recipe=name, **changes)
