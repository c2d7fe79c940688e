"""Training the line reader with CTC, and its checkpoint.

The examples are rendered once (examples.py: the stroke groups of generated numbers made
from the training digits of the classifier it will work with, so that classifier's
validation digits stay unseen by both), sorted into batches of similar width, and the
network is trained with CTC loss under bf16 autocast where the hardware computes bf16
natively, AdamW and a one-cycle schedule. The checkpoint is the one format of
training/checkpoint.py: `model.json` (kind "line-reader") and `weights.safetensors`
checked by SHA-256, written atomically.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors.torch import save_file
from tqdm import tqdm

from .. import __version__
from ..data.mnist import dataset_checksum
from ..device import autocast, pick_device, resolve_precision
from ..errors import DigitlabError
from ..files import atomic_dir
from ..training.checkpoint import FORMAT, FORMAT_VERSION, META, WEIGHTS, _load_tensors, _sha256, read_meta
from ..training.config import TrainConfig
from ..training.trainer import make_split
from .examples import HEIGHT, negative_examples, number_examples
from .model import STRIDE, LineNet, greedy_decode

KIND = "line-reader"
# numbers drawn in each gap style: the reader is asked about groups that touch or overlap
STRETCH = (0.8, 1.2)  # each training batch is made this much wider or narrower
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


@dataclass
class LineReaderCheckpoint:
    model: LineNet
    meta: dict
    path: Path


def _batches(widths: np.ndarray, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Indices in batches of similar width (sorted, chunked, the chunks shuffled)."""
    order = np.argsort(widths + rng.uniform(0, 8, len(widths)), kind="stable")
    chunks = [order[i:i + size] for i in range(0, len(order), size)]
    rng.shuffle(chunks)
    return chunks


def collate(inputs: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Line inputs of one height, padded on the right to a common width (a multiple of STRIDE):
    N x 1 x HEIGHT x W, and each one's number of valid frames."""
    width = max(a.shape[1] for a in inputs)
    width = -(-width // STRIDE) * STRIDE
    x = np.zeros((len(inputs), 1, HEIGHT, width), np.float32)
    for i, a in enumerate(inputs):
        x[i, 0, :, :a.shape[1]] = a
    frames = torch.tensor([max(1, a.shape[1] // STRIDE) for a in inputs])
    return torch.from_numpy(x), frames


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


def read_lines(model: LineNet, inputs: list[np.ndarray], device: torch.device, precision: str,
               batch: int = 256) -> list[tuple[list, float]]:
    """Greedy readings (digits, confidence) of line inputs, in their order."""
    out: list = [None] * len(inputs)
    order = np.argsort([a.shape[1] for a in inputs], kind="stable")
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            x, frames = collate([inputs[k] for k in idx])
            with autocast(device, precision):
                lp = model(x.to(device).contiguous(memory_format=torch.channels_last)).float().cpu().numpy()
            for j, k in enumerate(idx):
                out[k] = greedy_decode(lp[j], int(frames[j]))
    return out


def line_accuracy(model: LineNet, inputs: list[np.ndarray], texts: list[str], device: torch.device,
                  precision: str) -> float:
    read = read_lines(model, inputs, device, precision)
    return float(np.mean(["".join(str(d.digit) for d in digits) == t for (digits, _), t in zip(read, texts)]))


def train_line_reader(classifier: str | Path, out: str | Path, cfg: LinesConfig | None = None,
                      device: str | None = None, progress: bool = True,
                      log: Callable[[str], None] = print) -> LineReaderCheckpoint:
    """Train a line reader on numbers made from the training digits of `classifier` (a
    checkpoint) and write it to `out`; returns it. Figures go through `log`."""
    cfg = cfg or LinesConfig()
    dev = pick_device(device)
    precision = resolve_precision("auto", dev)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    meta = read_meta(classifier)
    split = make_split(TrainConfig.from_json(meta.get("train_config") or {}), torch.device("cpu"))
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

    model = LineNet(cfg.width, HEIGHT).to(dev).to(memory_format=torch.channels_last)
    widths = np.array([a.shape[1] for a in inputs])
    steps = cfg.epochs * math.ceil(len(inputs) / cfg.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=steps, pct_start=0.15)
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    history = []
    for epoch in range(cfg.epochs):
        model.train()
        batches = _batches(widths, cfg.batch_size, rng)
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch", disable=not progress, leave=False)
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
                     **extra) -> Path:
    path = Path(path)
    with atomic_dir(path) as tmp:
        weights = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
        save_file(weights, str(tmp / WEIGHTS))
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION,
                "model": {"name": KIND, "kind": KIND, "width": cfg.width, "height": HEIGHT, "stride": STRIDE},
                "train_config": asdict(cfg), "metrics": metrics, "history": history, "trained_with": extra,
                "dataset_sha256": dataset_checksum(),
                "versions": {"digitlab": __version__, "torch": torch.__version__},
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "weights_sha256": _sha256(tmp / WEIGHTS)}
        (tmp / META).write_text(json.dumps(meta, indent=2) + "\n")
    return path


def is_line_reader(path: str | Path) -> bool:
    try:
        return read_meta(path).get("model", {}).get("kind") == KIND
    except DigitlabError:
        return False


def load_line_reader(path: str | Path, device: str | torch.device = "cpu") -> LineReaderCheckpoint:
    path = Path(path)
    meta = read_meta(path)
    m = meta.get("model") or {}
    if m.get("kind") != KIND:
        raise DigitlabError(f"{path} is not a line reader (a digit classifier? train one with `digitlab train-lines`)")
    if m.get("height") != HEIGHT or m.get("stride") != STRIDE:
        raise DigitlabError(f"line reader {path} was made for inputs {m.get('height')} high; this digitlab reads "
                            f"{HEIGHT}")
    model = LineNet(int(m["width"]), HEIGHT)
    weights = _load_tensors(path / WEIGHTS, meta.get("weights_sha256"), "the weights")
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:
        raise DigitlabError(f"line reader {path}: weights do not match its model ({str(e)[:200]})") from None
    model = model.to(device).to(memory_format=torch.channels_last).eval()
    return LineReaderCheckpoint(model, meta, path)
