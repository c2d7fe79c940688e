"""The open-set figures through the whole reading path, as a user's picture is read.

`open_set.py` scores the classifier on 28x28 inputs: a diagnostic. Here every image is a
drawing at a drawing's size, read by `Predictor.read_gray` exactly as `digitlab predict`
and the server read it (ink, stroke groups, splitting, any line reader), and the answer is
what is counted: whether it was rejected, and how many digits it holds.

- Digits: MNIST test digits (a stratified `per_family`), drawn at four times their size:
  read right and accepted, rejected, read as several digits. The same for single digits
  drawn wide (data/wide_digits.py: stretched sideways, a crossed 7, a flagged 1), which a
  reader that splits wide groups may read as two.
- Non-digits: each held-out family of the generator ("test" part, drawn before any
  normalization), letter strings among them, two overlapping digits not (through the path
  they are a number): rejected, and of the accepted, the share read as several digits (a
  letter cut into strokes reads as 1s).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..data.mnist import load_mnist
from ..data.negatives import ALL_FAMILIES, PATH_ONLY, draw_family
from ..data.splits import stratified_take
from ..data.wide_digits import KINDS as WIDE_KINDS, SCALE as DIGIT_SCALE, wide_digits
from ..recognition.predictor import Predictor

# "pairs" (two digits on top of each other) are no single digit, but through the whole path
# they are a number of two digits, and reading them so is right: not counted here.
FAMILIES = tuple(f for f in ALL_FAMILIES + PATH_ONLY if f != "pairs")
PER_FAMILY = 200  # at most, per family: each image is a whole reading (tens of ms on 2 cores)


@dataclass(frozen=True)
class PathFigures:
    n: int
    rejected: float
    several: float  # read as more than one digit (non-digits: of those accepted)
    right: float | None = None  # digits: read right and accepted


def as_drawing(ink: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Ink (0..1 or 0..255, ink high) -> a grayscale drawing: dark ink on white paper, with a
    margin, `scale` times the size."""
    ink = ink.astype(np.float32) / (255.0 if ink.max() > 1.0 else 1.0)
    if scale != 1.0:
        h, w = ink.shape
        ink = np.asarray(Image.fromarray(ink, mode="F").resize((round(w * scale), round(h * scale)),
                                                               Image.Resampling.BILINEAR))
    paper = np.pad(ink.clip(0, 1), 16)
    return 255.0 * (1.0 - paper)


def _figures(readings, truth: list[str] | None = None) -> PathFigures:
    rejected = np.array([r.rejected for r in readings])
    several = np.array([len(r.digits) > 1 for r in readings])
    if truth is None:  # non-digits: several of those accepted
        accepted = ~rejected
        return PathFigures(len(readings), float(rejected.mean()),
                           float(several[accepted].mean()) if accepted.any() else 0.0)
    right = np.array([not r.rejected and r.number == t for r, t in zip(readings, truth)])
    return PathFigures(len(readings), float(rejected.mean()), float(several.mean()), float(right.mean()))


def reading_path_evaluation(predictor: Predictor, per_family: int, seed: int = 0) -> dict[str, PathFigures]:
    """"digits" and every held-out non-digit family, read through the whole path
    (`per_family` of each, at most PER_FAMILY)."""
    per_family = min(per_family, PER_FAMILY)
    data = load_mnist()
    picked, _ = stratified_take(data.test_labels, per_family, seed)
    digits = [predictor.read_gray(as_drawing(data.test_images[k].numpy(), DIGIT_SCALE)) for k in picked.tolist()]
    out = {"digits": _figures(digits, [str(int(data.test_labels[k])) for k in picked.tolist()])}
    for kind in WIDE_KINDS:
        drawings, truth = wide_digits(kind, data.test_images, data.test_labels, per_family, seed)
        out[f"wide: {kind}"] = _figures([predictor.read_gray(as_drawing(d)) for d in drawings], truth)
    test_digits = data.test_images
    for family in FAMILIES:
        drawings = [d for d in draw_family(family, per_family, "test", seed, test_digits) if d is not None]
        out[family] = _figures([predictor.read_gray(as_drawing(d)) for d in drawings])
    return out


def format_reading_path(result: dict[str, PathFigures]) -> str:
    lines = ["through the whole reading path (drawings read as `digitlab predict` reads them):",
             f"  {'':<20}{'n':>6}{'right':>9}{'rejected':>10}{'several':>10}"]
    for name, f in result.items():
        right = "" if f.right is None else f"{f.right:.2%}"
        lines.append(f"  {name:<20}{f.n:>6}{right:>9}{f.rejected:>10.2%}{f.several:>10.2%}")
    lines.append("  (digits: several = read as more than one digit; non-digits: of those accepted)")
    return "\n".join(lines)


def reading_path_json(result: dict[str, PathFigures]) -> dict:
    return {name: {k: v for k, v in vars(f).items() if v is not None} for name, f in result.items()}

