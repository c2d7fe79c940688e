"""Training the line reader with CTC, and its checkpoint.

The examples are rendered once (line_examples.py: the stroke groups of generated numbers made
from the training digits of the classifier it will work with, so that classifier's
validation digits stay unseen by both), sorted into batches of similar width, and the
network is trained with CTC loss under bf16 autocast where the hardware computes bf16
natively, AdamW and a one-cycle schedule. The checkpoint is the one format of
runs/checkpoint.py: `model.json` (kind "line-reader") and `weights.safetensors`
checked by SHA-256, written atomically.
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
from ..models.line_net import STRIDE, LineNet, LineNetSpec
from ..recognition.line_reader import collate, load_line_reader, read_lines
from ..runs.checkpoint import Checkpoint, save_checkpoint
from .companion import start_companion
from .line_examples import negative_examples, number_examples
STRETCH = (0.8, 1.2)  # each training batch is made this much wider or narrower
# numbers drawn in each gap style: the reader is asked about groups that touch or overlap
STYLES = ("apart", "touching", "overlap<=20%", "overlap>20%", "touching", "overlap<=20%")


@dataclass
class LinesConfig:
    numbers: int = 30000  # generated training numbers
    lengths: tuple[int, int] = (2, 6)  # their digits, fewest and most
    styles: tuple[str, ...] = STYLES  # their gap styles, in turn
    negatives: int = 5000  # generated non-digits, read as nothing
    epochs: int = 8
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    width: int = 64  # channels of the network's middle layers
    seed: int = 0
    val_numbers: int = 1000  # made from the classifier's validation digits, to report on


def _batches(widths: np.ndarray, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Indices in batches of similar width (sorted, chunked, the chunks shuffled)."""
    order = np.argsort(widths + rng.uniform(0, 8, len(widths)), kind="stable")
    chunks = [order[i:i + size] for i in range(0, len(order), size)]
    rng.shuffle(chunks)
    return chunks


def stretch(x: torch.Tensor, frames: torch.Tensor, factor: float) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch made `factor` times as wide (writers' digits are wider or narrower than
    MNIST's), and its valid frames with it."""
    old = x.shape[-1]
    width = max(STRIDE, int(round(old * factor / STRIDE)) * STRIDE)
    x = torch.nn.functional.interpolate(x, size=(x.shape[-2], width), mode="bilinear", align_corners=False)
    return x, torch.clamp(frames * width // old, min=1)


def _targets(texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    flat = [int(c) + 1 for t in texts for c in t]
    return torch.tensor(flat, dtype=torch.long), torch.tensor([len(t) for t in texts], dtype=torch.long)


def line_accuracy(model: LineNet, inputs: list[np.ndarray], texts: list[str], device: torch.device,
                  precision: str) -> float:
    read = read_lines(model, inputs, device, precision)
    return float(np.mean(["".join(str(d.digit) for d in digits) == t for (digits, _), t in zip(read, texts)]))


def train_line_reader(classifier: str | Path, out: str | Path, cfg: LinesConfig | None = None,
                      device: str | None = None, progress: bool = True,
                      log: Callable[[str], None] = print) -> Checkpoint:
    """Train a line reader on numbers made from the training digits of `classifier` (a
    checkpoint) and write it to `out`; returns it. Figures go through `log`."""
    cfg = cfg or LinesConfig()
    start = start_companion(classifier, cfg.seed, device)
    dev, precision, rng, meta, split = start.device, start.precision, start.rng, start.meta, start.split
    digits, labels = split.x_train.squeeze(1), split.y_train
    t0 = time.perf_counter()
    inputs, texts = number_examples(cfg.numbers, digits, labels, cfg.seed, cfg.lengths, cfg.styles)
    neg_inputs, neg_texts = negative_examples(cfg.negatives, digits, cfg.seed)
    inputs, texts = inputs + neg_inputs, texts + neg_texts
    val_digits, val_labels = split.x_val.squeeze(1), split.y_val
    val_inputs, val_texts = number_examples(cfg.val_numbers, val_digits, val_labels, cfg.seed + 1, cfg.lengths,
                                            cfg.styles)
    log(f"rendered {len(inputs)} training groups ({cfg.numbers} numbers, {len(neg_inputs)} non-digits) and "
        f"{len(val_inputs)} validation groups in {time.perf_counter() - t0:.0f} s")

    model = LineNetSpec(width=cfg.width).build().to(dev).to(memory_format=torch.channels_last)
    widths = np.array([a.shape[1] for a in inputs])
    steps = cfg.epochs * math.ceil(len(inputs) / cfg.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=steps, pct_start=0.15)
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    history = []
    for epoch in range(cfg.epochs):
        model.train()
        batches = _batches(widths, cfg.batch_size, rng)
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch", disable=None if progress else True,
                   leave=False)
        t_epoch, total = time.perf_counter(), 0.0
        for idx in bar:
            x, frames = collate([inputs[k] for k in idx])
            x, frames = stretch(x, frames, rng.uniform(*STRETCH))
            target, lengths = _targets([texts[k] for k in idx])
            with autocast(dev, precision):
                lp = model(x.to(dev).contiguous(memory_format=torch.channels_last))
            loss = ctc(lp.permute(2, 0, 1), target.to(dev), frames.to(dev), lengths.to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            schedule.step()
            total += float(loss.detach())
        accuracy = line_accuracy(model, val_inputs, val_texts, dev, precision)
        history.append({"epoch": epoch + 1, "loss": total / len(batches), "val_group_accuracy": accuracy,
                        "seconds": time.perf_counter() - t_epoch})
        log(f"epoch {epoch + 1}/{cfg.epochs}: loss {total / len(batches):.4f}, validation groups read right "
            f"{accuracy:.2%} ({time.perf_counter() - t_epoch:.0f} s)")
    save_line_reader(out, model, cfg, {"val_group_accuracy": history[-1]["val_group_accuracy"]}, history,
                     classifier=str(classifier), classifier_sha256=meta.get("weights_sha256"))
    return load_line_reader(out, dev)


def save_line_reader(path: str | Path, model: LineNet, cfg: LinesConfig, metrics: dict, history: list,
                     **trained_with) -> Path:
    """The line reader as a checkpoint of kind "line-reader"; `trained_with` names the classifier."""
    return save_checkpoint(path, model, LineNetSpec(width=cfg.width), train_config=asdict(cfg), metrics=metrics,
                           history=history, extra={"trained_with": trained_with})
