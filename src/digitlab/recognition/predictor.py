"""Read the digits or the number in a picture with a checkpoint, and say when
something is not a digit (the score and its calibrated threshold: rejection.py).
"""

from __future__ import annotations

import base64
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from ..device import pick_device, resolve_precision
from ..errors import DigitlabError
from ..files import write_json_atomic
from ..models.inference import predict_logits
from ..runs.checkpoint import Checkpoint
from ..runs.ensemble import load_reader
from . import group_judge
from .group_judge import GroupJudge
from .line_reader import LineReader, beside
from .preprocess import Piece, decode_image, find_pieces
from .reading import DigitReading, Reading, TopGuess
from .rejection import REJECT_RATE, rejection_threshold
from .segment import DigitGuess, read_digits

if TYPE_CHECKING:
    from .onnx_export import OnnxLogits

ONNX_FILE = "model.onnx"


def png_data_url(image: np.ndarray) -> str:
    """A uint8 gray, RGB or RGBA array as a PNG data URL (fast compression: the pictures of
    /api/explain are encoded per request)."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


RUNTIMES = ("torch", "onnx")
BATCH_SIZES = (8, 16, 32, 64, 128, 256)  # what `classify` pads a batch to (larger ones go as they are)


def _onnx_beside(checkpoint: Checkpoint) -> "OnnxLogits":
    """The checkpoint's ONNX export (made once, kept as model.onnx beside the weights and
    remade when the weights change; in a temporary file where the checkpoint is read-only)."""
    import tempfile

    from .onnx_export import OnnxLogits, export_onnx

    path, stamp = checkpoint.path / ONNX_FILE, checkpoint.path / f"{ONNX_FILE}.json"
    key = checkpoint.meta.get("weights_sha256")
    try:
        if json.loads(stamp.read_text()).get("weights_sha256") == key and path.exists():
            return OnnxLogits(path)
    except (OSError, ValueError, AttributeError):
        pass
    try:
        difference = export_onnx(checkpoint, path)
        write_json_atomic(stamp, {"weights_sha256": key, "max_abs_difference": difference})
    except DigitlabError:
        if not os.access(checkpoint.path, os.W_OK):
            path = Path(tempfile.mkdtemp(prefix="digitlab-onnx-")) / ONNX_FILE
            export_onnx(checkpoint, path)
        else:
            raise
    return OnnxLogits(path)


@dataclass
class Predictor:
    checkpoint: Checkpoint
    device: torch.device
    threshold: float
    runtime: str = "torch"
    onnx: OnnxLogits | None = None  # when runtime == "onnx"
    # bf16 where the hardware computes it natively: reading touching digits classifies
    # dozens of candidate spans at once, and bf16 is over ten times faster on such a CPU
    # (on the 10k MNIST test digits: the same answer for 99.97%, top probabilities within 0.02)
    precision: str = "fp32"
    lines: "LineReader | None" = None  # reads touching digits whole (lines/): <run>/lines when there is one
    groups: "GroupJudge | None" = None  # decides each stroke group (groups/): <run>/groups when there is one

    @classmethod
    def load(cls, path: str | Path, device: str | None = None, runtime: str = "torch",
             lines: str | Path | None = "auto", warm: bool = True,
             groups: str | Path | None = "auto") -> "Predictor":
        """A checkpoint (or ensemble) ready to read. `lines` is a line reader's directory,
        "auto" for the run's own (<run>/lines beside the checkpoint, where there is one) or
        None for none: touching digits are then read by splitting alone. `warm` false skips
        the warm-up (`warm_up`): a command that reads a few files pays less without it. `groups`
        is a group judge's directory, "auto" for the run's own (<run>/groups) or None."""
        if runtime not in RUNTIMES:
            raise DigitlabError(f"unknown runtime {runtime!r}; choose from {', '.join(RUNTIMES)}")
        dev = pick_device(device)
        checkpoint = load_reader(path, dev)  # a checkpoint, or an ensemble read as one
        threshold = rejection_threshold(checkpoint, dev)["threshold"]
        onnx = _onnx_beside(checkpoint) if runtime == "onnx" else None
        if onnx is not None:
            checkpoint.model.to(dev)  # the export ran on the CPU copy
        if lines == "auto":
            lines = beside(path)
        reader = LineReader(lines, dev) if lines is not None else None
        if groups == "auto":
            groups = group_judge.beside(path)
        judge = GroupJudge(groups, dev) if groups is not None else None
        predictor = cls(checkpoint, dev, threshold, runtime, onnx, resolve_precision("auto", dev), reader, judge)
        if warm:
            predictor.warm_up()
        return predictor

    def warm_up(self) -> None:
        """Classify a blank batch of every size `classify` pads to, so that no reading pays
        for building the kernels of a new batch size."""
        for size in BATCH_SIZES:
            self.classify(np.zeros((size, 28, 28), np.uint8))
        if self.lines is not None:  # its first call sets up its kernels
            self.lines.read([Piece(np.ones((28, 56), np.float32), (0, 0, 56, 28))])
        if self.groups is not None:
            self.groups.decide([Piece(np.ones((28, 56), np.float32), (0, 0, 56, 28))])

    @property
    def info(self) -> dict:
        meta = self.checkpoint.meta
        return {"name": self.checkpoint.name, "spec": self.checkpoint.model_spec.spec,
                "parameters": self.checkpoint.parameters,
                "val_accuracy": meta.get("metrics", {}).get("val_accuracy"),
                "rejection_threshold": self.threshold, "path": str(self.checkpoint.path), "runtime": self.runtime,
                "line_reader": str(self.lines.path) if self.lines is not None else None,
                "group_judge": str(self.groups.path) if self.groups is not None else None}

    @property
    def weights_sha256(self) -> str | None:
        """Which weights read a drawing (kept with each stored sample)."""
        return self.checkpoint.meta.get("weights_sha256")

    def classify(self, images: np.ndarray) -> np.ndarray:
        """Probabilities N x 10 for uint8 MNIST-style images N x 28 x 28.

        The batch is padded to one of BATCH_SIZES: the CPU's convolution kernels are built
        for each new batch size, which costs far more than the few blank images."""
        n = len(images)
        size = next((b for b in BATCH_SIZES if b >= n), n)
        if size != n:
            images = np.concatenate([images, np.zeros((size - n, 28, 28), np.uint8)])
        if self.onnx is not None:
            logits = torch.from_numpy(self.onnx(images))
        else:
            logits = predict_logits(self.checkpoint.model, torch.from_numpy(images), self.device, self.precision)
        return torch.softmax(logits[:n], 1).numpy()

    def read(self, data: bytes, with_images: bool = False) -> Reading:
        """The number in an image (recognition/reading.py), each digit's 28x28 input as a PNG
        data URL and all ten probabilities too if asked.

        `number` is the model's reading, or None when there is no ink at all; `rejected`
        is true when some shape is not confidently a digit, and `reason` says which."""
        return self.read_gray(decode_image(data), with_images)

    def read_gray(self, gray: np.ndarray, with_images: bool = False, split: bool = True,
                  lines: bool = True) -> Reading:
        """`read` for a decoded grayscale picture (H x W, 0..255, either polarity). With
        `split` false, each group of touching strokes is read as one digit (no splitting);
        with `lines` false, touching digits are read by splitting alone (no line reader)."""
        return self.describe(self.guesses(gray, split, lines), with_images)

    def guesses(self, gray: np.ndarray, split: bool = True, lines: bool = True) -> list[DigitGuess]:
        """Each digit of a decoded picture, left to right: its 28x28 input, box and probabilities."""
        return read_digits(find_pieces(gray), self.classify, self.threshold, split=split,
                           read_lines=self.lines.read if self.lines is not None and lines else None,
                           judge=self.groups.decide if self.groups is not None else None)

    def describe(self, guesses: list[DigitGuess], with_images: bool = False) -> Reading:
        """The reading these guesses make."""
        if not guesses:
            return Reading(number=None, digits=[], rejected=True, reason="no ink: the image is blank")
        out = []
        for g in guesses:
            p = g.probs
            top = np.argsort(-p)[:3]
            out.append(DigitReading(
                digit=int(top[0]), confidence=float(p[top[0]]),
                top3=[TopGuess(int(k), float(p[k])) for k in top], box=[int(v) for v in g.digit.box],
                image=png_data_url(g.digit.image) if with_images else None,
                probabilities=[float(x) for x in p] if with_images else None))
        doubtful = [i for i, g in enumerate(guesses) if g.digit_score < self.threshold or g.not_a_digit]
        reason = None
        judged = [i for i in doubtful if guesses[i].not_a_digit]
        if judged:
            which = ", ".join(str(i + 1) for i in judged)
            reason = f"not a digit: shape {which}, seen whole, looks like no digit nor several"
        elif doubtful:
            which = ", ".join(str(i + 1) for i in doubtful)
            reason = (f"not a digit: shape {which} scores below {self.threshold:.3f}, the level at most "
                      f"{REJECT_RATE:.0%} of real digits fall below")
        # The number is always the model's reading; `rejected` says it is not to be trusted.
        return Reading(number="".join(str(d.digit) for d in out), digits=out, rejected=bool(doubtful), reason=reason)
