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
from scipy import ndimage

from ..data.negatives import FAMILIES, negative_bank
from ..data.numbers import STYLES, numbers
from ..recognition.line_reader import line_input
from ..recognition.preprocess import Piece, find_pieces

OWN, FRAGMENT = 0.6, 0.15  # share of a digit's ink in a group: the digit is in it / a piece of it is
NEGATIVE_FAMILIES = tuple(f for f in FAMILIES if f != "pairs")  # two overlapping digits are a number here


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
