"""What the line reader is trained on: the stroke groups of generated numbers, each with the
digits whose ink it holds, plus generated non-digits whose reading is empty.

A number made by data/numbers.py is turned into a drawing and cut into stroke groups by
the predictor's own `find_pieces`, so the reader learns from exactly what it will be
shown: a group of two touching digits out of five, a digit alone, three overlapping ones.
A group's true string is the digits (left to right) that have most of their ink in it; a
group holding a fragment of a digit (a stroke that came apart) is left out.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

from ..data.negatives import FAMILIES, negative_bank
from ..data.numbers import STYLES, numbers
from ..recognition.preprocess import Piece, find_pieces

HEIGHT = 32  # rows the reader sees: the group's ink scaled to INK_HEIGHT, with a margin
INK_HEIGHT = 28
MAX_WIDTH = 8 * HEIGHT  # a wider group is squeezed to this
MIN_WIDTH = 16
OWN, FRAGMENT = 0.6, 0.15  # share of a digit's ink in a group: the digit is in it / a piece of it is
NEGATIVE_FAMILIES = tuple(f for f in FAMILIES if f != "pairs")  # two overlapping digits are a number here


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


def piece_truth(piece: Piece, owner: np.ndarray, ink: np.ndarray, text: str) -> str | None:
    """The digits of `text` that have most of their ink in `piece` (left to right), or None
    when the piece holds a fragment of some digit."""
    x, y, w, h = piece.box
    inside = owner[y:y + h, x:x + w][piece.ink > 0.25]
    strong = owner[ink > 0.25]
    kept = []
    for k in range(len(text)):
        total = int((strong == k + 1).sum())
        share = int((inside == k + 1).sum()) / max(total, 1)
        if share >= OWN:
            kept.append(text[k])
        elif share > FRAGMENT:
            return None
    return "".join(kept) if kept else None


def number_examples(count: int, images: torch.Tensor, labels: torch.Tensor, seed: int,
                    lengths: tuple[int, int] = (2, 6), styles: tuple[str, ...] = tuple(STYLES)
                    ) -> tuple[list[np.ndarray], list[str]]:
    """The stroke groups of `count` generated numbers (gap styles in turn) and their true strings."""
    inputs, texts = [], []
    for number in numbers(count, images, labels, seed=seed, lengths=lengths, styles=styles):
        ink = number.image.astype(np.float32) / 255
        for piece in find_pieces(255.0 - number.image.astype(np.float32)):
            truth = piece_truth(piece, number.owner, ink, number.text)
            if truth is not None:
                inputs.append(line_input(piece.ink))
                texts.append(truth)
    return inputs, texts


def negative_examples(count: int, digits: torch.Tensor, seed: int) -> tuple[list[np.ndarray], list[str]]:
    """`count` generated non-digits at a drawing's size, each to be read as nothing."""
    bank, _ = negative_bank(count, "train", seed, digits, NEGATIVE_FAMILIES)
    inputs = [line_input(ndimage.zoom(image.numpy().astype(np.float32) / 255, 2, order=1).clip(0, 1))
              for image in bank if image.any()]
    return inputs, [""] * len(inputs)
