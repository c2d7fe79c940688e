"""Reading stroke groups with a trained line reader: the digits, each with its box and its
28x28 picture, and how sure the reader is of the whole reading.

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

from ..data.mnist_style import to_mnist
from ..device import pick_device, resolve_precision
from ..recognition.preprocess import Digit, Piece
from ..recognition.segment import Reading, span_box
from .examples import HEIGHT, INK_HEIGHT, inner_width, line_input
from .model import STRIDE, LineDigit
from .train import load_line_reader, read_lines

LINES_DIR = "lines"  # a run's line reader: <run>/lines beside <run>/best


@dataclass
class LineReading:
    readings: list[Reading]  # the digits, left to right; empty when the reader sees none
    confidence: float  # probability of the frame-by-frame path read


class LineReader:
    def __init__(self, path: str | Path, device: str | torch.device | None = None):
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self.checkpoint = load_line_reader(path, self.device)
        self.precision = resolve_precision("auto", self.device)

    @property
    def path(self) -> Path:
        return self.checkpoint.path

    def read(self, pieces: list[Piece]) -> list[LineReading]:
        """Each stroke group's reading, in one batch."""
        inputs = [line_input(p.ink) for p in pieces]
        found = read_lines(self.checkpoint.model, inputs, self.device, self.precision)
        return [LineReading(_readings(piece, digits), confidence)
                for piece, (digits, confidence) in zip(pieces, found)]


def beside(checkpoint: str | Path) -> Path | None:
    """The line reader trained for a run's checkpoint (<run>/lines), if there is one."""
    path = Path(checkpoint).parent / LINES_DIR
    return path if (path / "model.json").exists() else None


def _readings(piece: Piece, digits: list[LineDigit]) -> list[Reading]:
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
        out.append(Reading(Digit(to_mnist(part), span_box(part, 0, piece.box, 1.0)), d.probs))
    return out
