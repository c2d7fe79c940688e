"""Training the group judge (models/group_net.py), calibrating its "not a digit" threshold,
and its checkpoint.

Examples are drawn once (group_examples.py) from the training digits of the classifier it
will work with, so that classifier's validation digits stay unseen by both; those make the
calibration groups. The network is trained with cross-entropy under bf16 autocast where the
hardware computes bf16 natively, AdamW and a one-cycle schedule, each batch shifted a few
pixels. The threshold on the not-a-digit score is set so that at most REJECT_RATE of the
validation groups that are digits (one or several) reach it; the checkpoint
(runs/checkpoint.py, kind "group-judge") records it under "calibration".
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from ..device import autocast
from ..models.group_net import CLASSES, NOT, GroupNetSpec
from ..recognition.group_judge import judge_groups, load_group_judge
from ..runs.checkpoint import Checkpoint, save_checkpoint
from ..runs.split import Split
from .companion import start_companion
from .group_examples import cached_group_examples

REJECT_RATE = 0.002  # share of validation digit groups the not-a-digit threshold may reject (docs/writers.md)


@dataclass
class GroupsConfig:
    ones: int = 16000  # single digits
    several: int = 12000  # groups of touching digits
    nots: int = 16000  # non-digits
    epochs: int = 6
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    width: int = 16  # channels of the first layer (32: as good on validation, 2.5 times the time)
    seed: int = 0
    val_groups: int = 2000  # validation groups of each class


def calibrate(probs: np.ndarray, classes: np.ndarray, rate: float = REJECT_RATE) -> dict:
    """The not-a-digit threshold that rejects at most `rate` of the digit groups (one or
    several), and what it does on each class of these groups."""
    digits = probs[classes != NOT, NOT]
    threshold = float(np.quantile(digits, 1 - rate, method="higher")) + 1e-6
    decided = np.where(probs[:, NOT] >= threshold, NOT, probs[:, :NOT].argmax(1))
    per_class = {name: float((decided[classes == k] == k).mean()) for k, name in enumerate(CLASSES)
                 if (classes == k).any()}
    return {"not_threshold": threshold, "reject_rate": rate, "val_right": per_class,
            "val_digits_rejected": float((decided[classes != NOT] == NOT).mean())}


def judge_examples(split: Split, cfg: GroupsConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The judge's training groups (from the split's training digits) and its validation
    groups (from the validation digits), drawn or read back from the data cache."""
    x, y = cached_group_examples(split.x_train.squeeze(1), split.y_train, (cfg.ones, cfg.several, cfg.nots),
                                 "train", cfg.seed)
    val_x, val_y = cached_group_examples(split.x_val.squeeze(1), split.y_val, (cfg.val_groups,) * 3, "val",
                                         cfg.seed + 1)
    return x, y, val_x, val_y


def train_group_judge(classifier: str | Path, out: str | Path, cfg: GroupsConfig | None = None,
                      device: str | None = None, progress: bool = True,
                      log: Callable[[str], None] = print,
                      on_epoch_end: Callable[[dict], None] | None = None) -> Checkpoint:
    """Train a group judge on groups drawn from the training digits of `classifier` (a
    checkpoint), calibrate it on groups from its validation digits and write it to `out`.
    `on_epoch_end` gets each epoch's record, as the trainer's does."""
    cfg = cfg or GroupsConfig()
    start = start_companion(classifier, cfg.seed, device)
    dev, precision, rng, meta, split = start.device, start.precision, start.rng, start.meta, start.split
    t0 = time.perf_counter()
    x, y, val_x, val_y = judge_examples(split, cfg)
    log(f"drew {len(x)} training groups and {len(val_x)} validation groups in {time.perf_counter() - t0:.0f} s")

    model = GroupNetSpec(width=cfg.width).build().to(dev).to(memory_format=torch.channels_last)
    x_all, y_all = torch.from_numpy(x), torch.from_numpy(y)
    steps = cfg.epochs * math.ceil(len(x) / cfg.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    # warm up for a fifth of the steps; the half step keeps the warm-up's last step off a
    # whole number, where OneCycleLR divides by zero (a run of 5 steps)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=steps,
                                                   pct_start=(int(0.2 * steps) + 0.5) / steps)
    history = []
    for epoch in range(cfg.epochs):
        model.train()
        order = torch.from_numpy(rng.permutation(len(x)))
        batches = order.split(cfg.batch_size)
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch", disable=None if progress else True,
                   leave=False)
        t_epoch, total = time.perf_counter(), 0.0
        for idx in bar:
            xb = x_all[idx].float().div_(255).unsqueeze(1)
            dy, dx = (int(v) for v in rng.integers(-2, 3, size=2))
            xb = torch.roll(xb, (dy, dx), (2, 3))
            with autocast(dev, precision):
                logits = model(xb.to(dev).contiguous(memory_format=torch.channels_last))
            loss = torch.nn.functional.cross_entropy(logits.float(), y_all[idx].to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            schedule.step()
            total += float(loss.detach())
        probs = judge_groups(model, val_x.astype(np.float32) / 255, dev, precision)
        accuracy = float((probs.argmax(1) == val_y).mean())
        history.append({"epoch": epoch + 1, "loss": total / len(batches), "val_accuracy": accuracy,
                        "seconds": time.perf_counter() - t_epoch})
        log(f"epoch {epoch + 1}/{cfg.epochs}: loss {total / len(batches):.4f}, validation groups judged right "
            f"{accuracy:.2%} ({time.perf_counter() - t_epoch:.0f} s)")
        if on_epoch_end is not None:
            on_epoch_end(history[-1])
    calibration = calibrate(probs, val_y)
    log(f"not-a-digit threshold {calibration['not_threshold']:.3f}: validation digit groups rejected "
        f"{calibration['val_digits_rejected']:.2%}, non-digits rejected {calibration['val_right']['not a digit']:.2%}")
    save_checkpoint(out, model, GroupNetSpec(width=cfg.width), train_config=asdict(cfg),
                    metrics={"val_accuracy": history[-1]["val_accuracy"]}, history=history,
                    extra={"calibration": calibration,
                           "trained_with": {"classifier": str(classifier),
                                            "classifier_sha256": meta.get("weights_sha256")}})
    return load_group_judge(out, dev)
