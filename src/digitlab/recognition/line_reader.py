"""Reading stroke groups with a trained line reader (models/line_net.py; trained by
training/lines.py): the digits, each with its box and its 28x28 picture, and how sure the
reader is of the whole reading.

A group's ink is scaled to a fixed height keeping its aspect ratio (`line_input`); the
network gives a distribution over CTC's blank and the ten digits every STRIDE columns,
and the reading is the best label per frame with repeats merged and blanks dropped
(greedy decoding); each digit keeps the frames it came from.

A digit's columns run from halfway after the previous digit's frames to halfway before
the next one's; its box is the ink in those columns, and its picture is that ink
normalized as MNIST (what /api/explain and a stored correction are given). The reading
itself is the network's, not the picture's: where digits overlap, a picture cut at
straight columns holds slivers of the neighbours that the network did not need to see.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..data.mnist_style import to_mnist
from ..device import autocast, pick_device, resolve_precision
from ..models.line_net import BLANK, HEIGHT, KIND, STRIDE, LineNet
from ..runs.checkpoint import Checkpoint, beside as companion, load_checkpoint
from .preprocess import Digit, Piece
from .segment import DigitGuess, span_box

LINES_DIR = "lines"  # a run's line reader: <run>/lines beside <run>/best
INK_HEIGHT = 28  # rows of ink in a line input; the rest of HEIGHT is margin
MAX_WIDTH = 8 * HEIGHT  # a wider group is squeezed to this
MIN_WIDTH = 16


def inner_width(w: int, h: int) -> int:
    """Columns a w x h box of ink takes in a line input (before the margin)."""
    return int(min(MAX_WIDTH - 4, max(1, round(w * INK_HEIGHT / h))))


def line_input(ink: np.ndarray) -> np.ndarray:
    """A stroke group's ink (0..1, any size) -> float32 HEIGHT x W: the ink's box scaled to
    INK_HEIGHT rows keeping its aspect ratio, with a margin of (HEIGHT - INK_HEIGHT) / 2."""
    rows, cols = np.nonzero(ink > 0)
    crop = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1].astype(np.float32)
    h, w = crop.shape
    width = inner_width(w, h)
    small = np.asarray(Image.fromarray(crop, mode="F").resize((width, INK_HEIGHT), Image.Resampling.BILINEAR))
    pad = (HEIGHT - INK_HEIGHT) // 2
    out = np.zeros((HEIGHT, max(MIN_WIDTH, width + 2 * pad)), np.float32)
    out[pad:pad + INK_HEIGHT, pad:pad + width] = np.clip(small / max(float(small.max()), 1e-6), 0, 1)
    return out


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


@dataclass
class LineDigit:
    digit: int
    probs: np.ndarray  # the ten digit probabilities at the frame where the digit peaks
    frames: tuple[int, int]  # first and last frame (inclusive) labelled with it


def greedy_decode(log_probs: np.ndarray, frames: int) -> tuple[list[LineDigit], float]:
    """One line's reading from its CLASSES x T log-probabilities (the first `frames` valid):
    the best label per frame, repeats merged, blanks dropped; and the probability of that
    frame-by-frame path (the product of each frame's best probability), a confidence."""
    lp = log_probs[:, :frames]
    best = lp.argmax(0)
    confidence = float(np.exp(lp.max(0).sum()))
    digits: list[LineDigit] = []
    t = 0
    while t < frames:
        label = int(best[t])
        end = t
        while end + 1 < frames and best[end + 1] == label:
            end += 1
        if label != BLANK:
            peak = t + int(lp[label, t:end + 1].argmax())
            p = np.exp(lp[1:, peak].astype(np.float64))
            digits.append(LineDigit(label - 1, (p / p.sum()).astype(np.float32), (t, end)))
        t = end + 1
    return digits, confidence


def read_lines(model: LineNet, inputs: list[np.ndarray], device: torch.device, precision: str,
               batch: int = 256) -> list[tuple[list[LineDigit], float]]:
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


def load_line_reader(path: str | Path, device: str | torch.device = "cpu") -> Checkpoint:
    return load_checkpoint(path, device, kind=KIND)


@dataclass
class LineGuess:
    digits: list[DigitGuess]  # the digits, left to right; empty when the reader sees none
    confidence: float  # probability of the frame-by-frame path read


class LineReader:
    def __init__(self, path: str | Path, device: str | torch.device | None = None):
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self.checkpoint = load_line_reader(path, self.device)
        self.precision = resolve_precision("auto", self.device)

    @property
    def path(self) -> Path:
        return self.checkpoint.path

    def read(self, pieces: list[Piece]) -> list[LineGuess]:
        """Each stroke group's reading, in one batch."""
        inputs = [line_input(p.ink) for p in pieces]
        found = read_lines(self.checkpoint.model, inputs, self.device, self.precision)
        return [LineGuess(_guesses(piece, digits), confidence) for piece, (digits, confidence) in zip(pieces, found)]


def beside(checkpoint: str | Path) -> Path | None:
    """The line reader trained for a run's checkpoint (<run>/lines), if there is one."""
    return companion(checkpoint, LINES_DIR)


def _guesses(piece: Piece, digits: list[LineDigit]) -> list[DigitGuess]:
    if not digits:
        return []
    rows, cols = np.nonzero(piece.ink > 0)
    c0, width = int(cols.min()), int(cols.max() - cols.min() + 1)
    height = int(rows.max() - rows.min() + 1)
    scale = inner_width(width, height) / width  # line-input columns per column of ink
    pad = (HEIGHT - INK_HEIGHT) // 2

    def to_ink(x: float) -> int:  # a line-input column -> a column of the piece's crop
        return int(round(c0 + (x - pad) / scale))

    edges = [0]
    for a, b in zip(digits, digits[1:]):
        edges.append(to_ink((a.frames[1] + 1 + b.frames[0]) * STRIDE / 2))
    edges.append(piece.ink.shape[1])
    out = []
    for d, lo, hi in zip(digits, edges, edges[1:]):
        part = np.zeros_like(piece.ink)
        part[:, lo:hi] = piece.ink[:, lo:hi]
        if not (part > 0).any():  # the reader placed it where no ink is: the box of its frames' middle
            mid = min(max(to_ink((d.frames[0] + d.frames[1] + 1) * STRIDE / 2), 0), piece.ink.shape[1] - 1)
            part[:, mid] = piece.ink[:, mid] if piece.ink[:, mid].any() else 1.0
        out.append(DigitGuess(Digit(to_mnist(part), span_box(part, 0, piece.box, 1.0)), d.probs))
    return out
