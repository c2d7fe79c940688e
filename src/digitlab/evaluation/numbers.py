"""How well a checkpoint reads whole numbers: generated numbers (data/numbers.py) whose
digits stand apart, touch or overlap, read by the predictor as a drawing would be.

Each number is read by the reader (stroke groups; touching digits read whole by the run's
line reader, lines/, where it has one, or split by recognition: recognition/segment.py),
by splitting alone where there is a line reader (what it adds), and by stroke groups
alone, one digit per group (what digitlab did before it read touching digits), so the
table shows what each adds and that it costs nothing where digits stand apart. Single
digits are read the same ways.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from ..data.numbers import STYLES, numbers
from ..data.splits import stratified_take
from ..recognition.predictor import Predictor
from ..runs.split import split_images

NUMBERS = 1000
SINGLE_DIGITS = 2000  # at most; twice the numbers read
# each way of reading, as `Predictor.read_gray` options ("splitting only": when there is a line reader)
READERS = {"reader": {}, "splitting only": {"lines": False}, "strokes only": {"split": False}}


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions turning a into b."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


@dataclass
class NumbersResult:
    split: str
    n: int
    rows: dict[str, dict[str, dict]]  # reader -> group ("apart", "length 3", "all", ...) -> figures
    single: dict[str, float]  # reader -> share of single digits read as one digit, rightly
    ms_per_number: float  # the reader's mean time per number, in process
    single_several: dict[str, float]  # reader -> share of single digits read as several digits

    def to_json(self) -> dict:
        return {"split": self.split, "numbers": self.n, "readers": self.rows, "single_digits": self.single,
                "single_digits_several": self.single_several, "ms_per_number": self.ms_per_number}


def _as_drawing(image: np.ndarray) -> np.ndarray:
    """A generated number (ink high) as a scanned drawing: dark ink on white paper."""
    return 255.0 - image.astype(np.float32)


def numbers_evaluation(predictor: Predictor, split: str = "test", n: int = NUMBERS, seed: int = 0,
                       lengths: tuple[int, int] = (3, 5), single: int = SINGLE_DIGITS) -> NumbersResult:
    images, labels = split_images(predictor.checkpoint, split)
    made = numbers(n, images, labels, seed=seed, lengths=lengths)
    readers = tuple(r for r in READERS if predictor.lines is not None or r != "splitting only")
    tallies = {reader: defaultdict(lambda: [0, 0, 0, 0]) for reader in readers}  # right, count, edits, digits
    spent = 0.0
    for number in made:
        gray = _as_drawing(number.image)
        t0 = time.perf_counter()
        read = predictor.read_gray(gray).number or ""
        spent += time.perf_counter() - t0
        texts = [read] + [predictor.read_gray(gray, **READERS[reader]).number or "" for reader in readers[1:]]
        for reader, text in zip(readers, texts):
            edits = min(edit_distance(text, number.text), len(number.text))
            for group in (number.style, f"length {len(number.text)}", "all"):
                t = tallies[reader][group]
                t[0] += text == number.text
                t[1] += 1
                t[2] += edits
                t[3] += len(number.text)
    rows = {reader: {group: {"n": t[1], "accuracy": t[0] / t[1], "digit_accuracy": 1 - t[2] / t[3]}
                     for group, t in sorted(groups.items(), key=lambda kv: _order(kv[0]))}
            for reader, groups in tallies.items()}
    right, several = _single_digits(predictor, images, labels, min(single, 2 * n), seed, readers)
    return NumbersResult(split, n, rows, right, spent / max(n, 1) * 1e3, several)


def _order(group: str) -> tuple[int, str]:
    styles = list(STYLES)
    if group in styles:
        return (0, f"{styles.index(group)}")
    return (1, group) if group.startswith("length") else (2, group)


def _single_digits(predictor: Predictor, images: torch.Tensor, labels: torch.Tensor, n: int,
                   seed: int, readers: tuple[str, ...]) -> tuple[dict[str, float], dict[str, float]]:
    """Share of single digits (a stratified `n`, drawn at twice MNIST's size) read as one
    digit and rightly, and share read as several digits, by each reader."""
    picked, _ = stratified_take(labels, min(n, len(labels)), seed)
    right, several = dict.fromkeys(readers, 0), dict.fromkeys(readers, 0)
    for k in picked.tolist():
        big = ndimage.zoom(images[k].numpy().astype(np.float32), 2, order=1).clip(0, 255)
        gray = _as_drawing(big)
        truth = str(int(labels[k]))
        for reader in readers:
            reading = predictor.read_gray(gray, **READERS[reader])
            right[reader] += reading.number == truth
            several[reader] += len(reading.digits) > 1
    return ({reader: count / len(picked) for reader, count in right.items()},
            {reader: count / len(picked) for reader, count in several.items()})


def format_numbers(result: NumbersResult) -> str:
    where = "validation" if result.split == "val" else "test"
    lines = [f"numbers made from MNIST {where} digits: {result.n}; whole-number accuracy (digit accuracy)",
             f"{'':<16}" + "".join(f"{reader:>24}" for reader in result.rows)]
    for group in result.rows['reader']:
        cells = "".join(f"{result.rows[r][group]['accuracy']:>14.2%} ({result.rows[r][group]['digit_accuracy']:.2%})"
                        for r in result.rows)
        lines.append(f"{group + ' (' + str(result.rows['reader'][group]['n']) + ')':<16}{cells}")
    lines.append(f"{'single digits':<16}" + "".join(f"{result.single[r]:>24.2%}" for r in result.rows))
    lines.append(f"{'... as several':<16}" + "".join(f"{result.single_several[r]:>24.2%}" for r in result.rows))
    lines.append(f"reader: {result.ms_per_number:.1f} ms per number in process")
    return "\n".join(lines)
