"""Fine-tuning a checkpoint on the samples people corrected, without forgetting MNIST.

Each step trains on a batch of the checkpoint's own MNIST training images (never its
validation images, so its "not a digit" calibration stays honest) with a smaller batch of
corrected samples (`FinetuneData`: tensors, which `digitlab finetune` makes from the
training part of the sample store), through the same
`Trainer.step` as training (the recipe's degradations, augmentation and generated
non-digits; the samples labelled "not a digit" join the non-digits). A held-out part of
the samples' digits is given too: accuracy on it, and on the checkpoint's own MNIST
validation images (`measured_mnist`: the split its training run held out, never trained
on here either), is measured before and after. The MNIST test set is not read: it is for
`digitlab evaluate`, and nothing here is chosen on it. The result is an ordinary
checkpoint, its training config unchanged (so the same validation images calibrate it),
what was done recorded under metrics.finetune.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..data.splits import stratified_take
from ..errors import DigitlabError
from ..models.inference import predict_logits
from ..runs.checkpoint import load_checkpoint, save_checkpoint
from ..runs.split import Split, make_split
from .config import TrainConfig
from .trainer import BN_RECALIBRATION_IMAGES, Trainer, recalibrate_batch_norm


@dataclass(frozen=True)
class FinetuneConfig:
    steps: int = 300
    lr: float = 3e-4  # peak; a short warm-up, then cosine down to 0 (docs/samples.md: 1e-3 and 5e-4 cost MNIST more)
    mnist_batch: int = 128  # MNIST training images per step
    sample_batch: int = 32  # corrected samples per step (drawn with replacement)
    holdout: float = 0.25  # share of the samples of each label kept out, to measure on
    seed: int = 0
    val_images: int | None = None  # the checkpoint's validation images measured on (stratified); None: all

    def __post_init__(self):
        if self.steps < 1 or self.mnist_batch < 1 or self.sample_batch < 1 or not 0 < self.holdout < 1 \
                or self.lr <= 0 or (self.val_images is not None and self.val_images < 10):
            raise DigitlabError("--steps and the batch sizes must be at least 1, --lr positive, --holdout in (0, 1), "
                                "--val-images at least 10")


@dataclass
class FinetuneData:
    """What fine-tuning learns from and is measured on: uint8 28x28 images as the model saw them."""

    digits: torch.Tensor  # N x 28 x 28, trained on
    labels: torch.Tensor  # their digits, 0-9
    nondigits: torch.Tensor  # M x 28 x 28 said to be "not a digit", trained on with the generated ones
    held_digits: torch.Tensor  # K x 28 x 28, measured on only
    held_labels: torch.Tensor
    source: dict  # where they came from (the store, the samples' ids), recorded as it is in metrics.finetune


@dataclass
class FinetuneResult:
    out: Path
    before: dict  # {"mnist_val": accuracy, "held_out": accuracy}
    after: dict
    trained_on: int  # samples trained on (digits and non-digits)
    held_out: int  # digit samples measured on
    val_images: int  # MNIST validation images measured on


def _accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, device) -> float | None:
    if len(images) == 0:
        return None
    return (predict_logits(model, images, device).argmax(1) == labels.long()).float().mean().item()


def measured_mnist(split: Split, n: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The MNIST digits fine-tuning is measured on (N x 28 x 28, labels): the checkpoint's own
    validation images (`split.x_val`, never in a training batch), or a stratified `n` of them."""
    x, y = split.x_val.squeeze(1), split.y_val
    if n is not None:
        if n > len(y):
            raise DigitlabError(f"--val-images {n}: the checkpoint's run held out {len(y)} validation images")
        picked, _ = stratified_take(y, n, seed=0)
        x, y = x[picked], y[picked]
    return x, y


def _lr_at(step: int, cfg: FinetuneConfig) -> float:
    warm = max(1, cfg.steps // 10)
    if step < warm:
        return cfg.lr * (step + 1) / warm
    return cfg.lr * 0.5 * (1 + np.cos(np.pi * (step - warm) / max(1, cfg.steps - warm)))


def finetune(checkpoint: str | Path, data: FinetuneData, out: str | Path, cfg: FinetuneConfig = FinetuneConfig(),
             device: str | None = None, log: Callable[[str], None] = print) -> FinetuneResult:
    if not len(data.digits) or not len(data.held_digits):
        raise DigitlabError(f"fine-tuning needs digit samples both to train on and to hold out; the store has "
                            f"{len(data.digits) + len(data.held_digits)} digit sample(s)")
    base = load_checkpoint(checkpoint)
    base_cfg = TrainConfig.from_json(base.meta.get("train_config") or {})
    trainer = Trainer(replace(base_cfg, subset=None, seed=cfg.seed), out=None, device=device, progress=False, log=log)
    trainer.model.load_state_dict(base.model.state_dict())
    model, dev = trainer.model, trainer.device
    split = make_split(trainer.cfg, dev)
    val_x, val_y = measured_mnist(split, cfg.val_images)  # the validation images, never the test set
    trainer.prepare(split)
    nondigits = data.nondigits.unsqueeze(1).to(dev)
    if len(nondigits):  # "not a digit" corrections join the generated non-digits, or are the only ones
        trainer.negatives = nondigits if trainer.negatives is None else torch.cat([trainer.negatives, nondigits])
        if trainer.cfg.negatives is None:
            from ..data.negatives import NegativesConfig

            trainer.cfg = replace(trainer.cfg, negatives=NegativesConfig())

    held_x, held_y = data.held_digits, data.held_labels.long()

    def measure() -> dict:
        return {"mnist_val": _accuracy(model, val_x, val_y, dev),
                "held_out": _accuracy(model, held_x, held_y, dev)}

    before = measure()
    log(f"before: MNIST validation accuracy {before['mnist_val']:.4f} ({len(val_y)}), held-out samples "
        f"{before['held_out']:.4f} ({len(held_x)})")
    sample_x = data.digits.unsqueeze(1).to(dev)
    sample_y = data.labels.long().to(dev)
    generator = trainer.generator
    for step in range(cfg.steps):
        model.train()
        mnist = torch.randint(len(split.y_train), (cfg.mnist_batch,), generator=generator).to(dev)
        mine = torch.randint(len(sample_y), (cfg.sample_batch,), generator=generator).to(dev)
        trainer.step(torch.cat([split.x_train[mnist], sample_x[mine]]),
                     torch.cat([split.y_train[mnist], sample_y[mine]]), _lr_at(step, cfg))
    # batch norm's running averages saw the samples in a third of every batch; a reading sees
    # one drawing at a time, so they are re-estimated on MNIST training digits alone, as `fit`
    # does after training with non-digits (on tests/test_finetune.py's weak model, 100 steps:
    # 96.9% MNIST validation accuracy after, against 96.3% without it)
    recalibrate_batch_norm(model, split.x_train[:BN_RECALIBRATION_IMAGES], dev)
    model.eval()
    after = measure()
    log(f"after:  MNIST validation accuracy {after['mnist_val']:.4f}, held-out samples {after['held_out']:.4f}")

    # metrics.val_accuracy is on all the validation images, as a training run records it
    val = after["mnist_val"] if len(val_y) == len(split.y_val) else \
        _accuracy(model, split.x_val.squeeze(1), split.y_val, dev)
    record = {"checkpoint": str(checkpoint), **data.source, "config": asdict(cfg), "before": before, "after": after}
    metrics = {**{k: v for k, v in base.meta.get("metrics", {}).items() if k != "finetune"},
               "val_accuracy": val, "finetune": record}
    save_checkpoint(out, model, base.model_spec, train_config=base.meta.get("train_config"), metrics=metrics,
                    history=base.meta.get("history"))
    return FinetuneResult(Path(out), before, after, len(data.digits) + len(data.nondigits), len(held_x), len(val_y))
