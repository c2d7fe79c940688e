"""Things that are not digits, generated, for teaching a model to say "not a digit" and for
measuring whether it does.

Families: letters and symbols (TrueType fonts shipped with matplotlib, and Hershey's
single-stroke fonts, which look handwritten once jittered and drawn with a round pen),
scribbles, geometric shapes, pieces of digits, two digits on top of each other, and
blobs and noise. Each picture is drawn as ink on a 96x96 canvas with random geometry and
pen width, then normalized the way the predictor normalizes a real drawing
(`mnist_style.normalize_ink`), so it reaches the model as a real one would.

Three disjoint parts: "train" is what training draws from, "val" is where settings are
chosen, "test" is held out for evaluation only. Each image has its own random stream,
keyed by (seed, part, family, index), and letters and symbols use different fonts in
each part; pieces of digits come from the MNIST images of the matching split, which the
caller passes in. Letters that no reader could tell from a digit (O, l, S, ...) are never
generated as negatives; the held-out "letters-ambiguous" family measures them apart.
"""

from __future__ import annotations

import hashlib
import math
import string
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from ..errors import DigitlabError
from .generated import cached
from .mnist_style import normalize_ink

CANVAS = 96
PARTS = ("train", "val", "test")
FAMILIES = ("letters", "symbols", "scribbles", "shapes", "partial", "pairs", "blobs")
HELD_OUT_ONLY = ("letters-ambiguous",)  # measured, never trained on
ALL_FAMILIES = FAMILIES + HELD_OUT_ONLY
# Held-out families read only through the whole reading path (evaluation/reading_path.py),
# never trained on: "strings" are 2-3 letters written together ("km", "Ah").
PATH_ONLY = ("strings",)
PER_FAMILY = 1000  # held-out non-digits per family in an open-set evaluation
# Share of each family in a training bank: letters and scribbles are what people draw most.
MIX = {"letters": 0.26, "symbols": 0.10, "scribbles": 0.20, "shapes": 0.14, "partial": 0.10, "pairs": 0.10,
       "blobs": 0.10}



@dataclass(frozen=True)
class NegativesConfig:
    """Non-digits in training: `share` of a batch's size is added as non-digits drawn from a
    bank of `bank` generated images (augmented and degraded like the digits), and their
    loss, weighted by `weight`, pulls the model's output toward uniform (Outlier Exposure)."""

    share: float = 0.25
    weight: float = 0.5
    bank: int = 10000
    seed: int = 0


AMBIGUOUS_LETTERS = "OolIiSsZzBbgqGD"  # read as 0 1 5 2 8 6 9 6 0 by any reader
LETTERS = "".join(c for c in string.ascii_letters if c not in AMBIGUOUS_LETTERS)
SYMBOLS = "+=?@#%&*$<>~^{}[]€£¥§¶©±×÷∞≈≠≤≥∑√∂Ω"  # no | / \ ! ( ): those are strokes of a 1

# Fonts by part: no font is in two parts.
TTF_FONTS = {
    "train": ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "STIXGeneral.ttf",
              "STIXGeneralBol.ttf", "cmr10.ttf", "cmss10.ttf"),
    "val": ("DejaVuSerif-Bold.ttf", "DejaVuSansMono-Bold.ttf", "STIXGeneralItalic.ttf", "cmtt10.ttf"),
    "test": ("DejaVuSans-Oblique.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSansMono-BoldOblique.ttf",
             "STIXGeneralBolIta.ttf", "cmb10.ttf", "cmti10.ttf"),
}
HERSHEY_FONTS = {
    "train": ("futural", "rowmans", "scripts", "timesr", "gothiceng"),
    "val": ("futuram", "timesi", "gothicger"),
    "test": ("cursive", "scriptc", "rowmand", "timesib", "gothicita"),
}
# Hershey's Greek alphabets stand in for symbols too (Latin keys give Greek glyphs).
HERSHEY_SYMBOL_FONTS = {"train": ("greek",), "val": ("greekc",), "test": ("greeks",)}
_TTF_HAS_UNICODE = ("DejaVu", "STIX")  # the Computer Modern fonts cover ASCII only


def _rng(seed: int, part: str, family: str, index: int) -> np.random.Generator:
    keys = [seed, PARTS.index(part), (ALL_FAMILIES + PATH_ONLY).index(family), index]
    return np.random.default_rng(np.random.SeedSequence(keys))


# --- drawing helpers -------------------------------------------------------------------------


def _canvas() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("L", (CANVAS, CANVAS), 0)
    return image, ImageDraw.Draw(image)


def _pen(draw: ImageDraw.ImageDraw, points: np.ndarray, width: int) -> None:
    """A polyline with a round pen: joints and ends are discs of the pen's width."""
    pts = [tuple(map(float, p)) for p in points]
    if len(pts) > 1:
        draw.line(pts, fill=255, width=width, joint="curve")
    r = width / 2
    for x, y in (pts[0], pts[-1]):
        draw.ellipse((x - r, y - r, x + r, y + r), fill=255)


def _warp(points: np.ndarray, rng: np.random.Generator, rotation: float = 20, shear: float = 0.3) -> np.ndarray:
    """Random rotation and shear about the centroid, then fit into the canvas with a margin."""
    a = math.radians(rng.uniform(-rotation, rotation))
    s = rng.uniform(-shear, shear)
    m = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) @ np.array([[1, s], [0, 1]])
    p = (points - points.mean(0)) @ m.T
    return _fit(p)


def _fit(points: np.ndarray, margin: float = 14) -> np.ndarray:
    lo, hi = points.min(0), points.max(0)
    size = max(float((hi - lo).max()), 1e-6)
    return (points - (lo + hi) / 2) * ((CANVAS - 2 * margin) / size) + CANVAS / 2


def _ink(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32) / 255


def _image_warp(image: Image.Image, rng: np.random.Generator, rotation: float = 20, shear: float = 0.3) -> Image.Image:
    a = math.radians(rng.uniform(-rotation, rotation))
    s = rng.uniform(-shear, shear)
    m = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) @ np.array([[1, s], [0, 1]])
    inv = np.linalg.inv(m)
    c = CANVAS / 2
    offset = np.array([c, c]) - inv @ np.array([c, c])
    return image.transform(image.size, Image.Transform.AFFINE,
                           (inv[0, 0], inv[0, 1], offset[0], inv[1, 0], inv[1, 1], offset[1]),
                           resample=Image.Resampling.BILINEAR)


# --- fonts -----------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def _ttf_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


@lru_cache(maxsize=64)
def _ttf(name: str, size: int) -> ImageFont.FreeTypeFont:
    path = _ttf_dir() / name
    if not path.exists():
        raise DigitlabError(f"font {path} is missing: the non-digit generator draws letters with matplotlib's fonts")
    return ImageFont.truetype(str(path), size)


@lru_cache(maxsize=None)
def _hershey(name: str):
    from HersheyFonts import HersheyFonts

    font = HersheyFonts()
    font.load_default_font(name)
    return font


def _ttf_glyph(chars: str, fonts: tuple[str, ...], rng: np.random.Generator) -> np.ndarray:
    name = fonts[rng.integers(len(fonts))]
    if not name.startswith(_TTF_HAS_UNICODE):
        chars = "".join(c for c in chars if c.isascii()) or "#"
    font = _ttf(name, int(rng.integers(40, 64)))
    image, draw = _canvas()
    draw.text((CANVAS / 2, CANVAS / 2), chars[rng.integers(len(chars))], fill=255, font=font, anchor="mm",
              stroke_width=int(rng.choice([0, 0, 0, 1])), stroke_fill=255)
    image = _image_warp(image, rng)
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0)))
    return _ink(image)


def _hershey_glyph(chars: str, fonts: tuple[str, ...], rng: np.random.Generator, whole: bool = False) -> np.ndarray:
    """One of `chars` (all of them, written in a row, with `whole`) drawn with a pen."""
    font = _hershey(fonts[rng.integers(len(fonts))])
    text = chars if whole else chars[rng.integers(len(chars))]
    strokes = [np.asarray(s, dtype=np.float64) for s in font.strokes_for_text(text)]
    strokes = [s for s in strokes if len(s)]
    if not strokes:
        return np.zeros((CANVAS, CANVAS), np.float32)
    joined = _warp(np.concatenate(strokes), rng)
    jitter = rng.normal(0, rng.uniform(0.3, 1.5), joined.shape)  # a hand's wobble
    image, draw = _canvas()
    width = int(rng.integers(3, 12))
    start = 0
    for s in strokes:
        _pen(draw, joined[start:start + len(s)] + jitter[start:start + len(s)], width)
        start += len(s)
    return _ink(image)


def _glyph(chars: str, ttf: tuple[str, ...], hershey: tuple[str, ...], rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.5:
        return _ttf_glyph(chars, ttf, rng)
    return _hershey_glyph(chars, hershey, rng)


# --- families --------------------------------------------------------------------------------


def _letters(rng, part, digits):
    return _glyph(LETTERS, TTF_FONTS[part], HERSHEY_FONTS[part], rng)


def _ambiguous_letters(rng, part, digits):
    return _glyph(AMBIGUOUS_LETTERS, TTF_FONTS[part], HERSHEY_FONTS[part], rng)


def _strings(rng, part, digits):
    """Two or three letters written together, in one font and one hand."""
    text = "".join(LETTERS[k] for k in rng.integers(len(LETTERS), size=int(rng.integers(2, 4))))
    if rng.random() < 0.5:
        name = TTF_FONTS[part][rng.integers(len(TTF_FONTS[part]))]
        image, draw = _canvas()
        draw.text((CANVAS / 2, CANVAS / 2), text, fill=255, font=_ttf(name, int(rng.integers(24, 34))), anchor="mm",
                  stroke_width=int(rng.choice([0, 0, 1])), stroke_fill=255)
        return _ink(_image_warp(image, rng, rotation=8, shear=0.3))
    return _hershey_glyph(text, HERSHEY_FONTS[part], rng, whole=True)


def _symbols(rng, part, digits):
    if rng.random() < 0.6:
        return _ttf_glyph(SYMBOLS, TTF_FONTS[part], rng)
    return _hershey_glyph(LETTERS, HERSHEY_SYMBOL_FONTS[part], rng)  # Greek O, I, Z, B look like digits too


def _smooth_curve(points: np.ndarray, samples: int = 12) -> np.ndarray:
    """Catmull-Rom spline through `points`."""
    p = np.concatenate([points[:1], points, points[-1:]])
    t = np.linspace(0, 1, samples, endpoint=False)[:, None]
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        out.append(0.5 * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t ** 2
                          + (-p0 + 3 * p1 - 3 * p2 + p3) * t ** 3))
    out.append(points[-1:])
    return np.concatenate(out)


def _scribbles(rng, part, digits):
    image, draw = _canvas()
    kind = rng.integers(4)
    # Fewer than four straight strokes or five curve points make 1s, 7s, Ls and Cs: too
    # close to digits to teach "not a digit" without teaching to doubt real ones.
    if kind == 0:  # a polyline of straight strokes
        points = rng.uniform(0, 1, (int(rng.integers(5, 9)), 2))
    elif kind == 1:  # a smooth curve through random points
        points = _smooth_curve(rng.uniform(0, 1, (int(rng.integers(5, 9)), 2)))
    elif kind == 2:  # a zigzag, back and forth
        n = int(rng.integers(5, 12))
        points = np.stack([np.linspace(0, 1, n) + rng.normal(0, 0.03, n), (np.arange(n) % 2) + rng.normal(0, 0.1, n)],
                          1) * [1, rng.uniform(0.2, 1.0)]
    else:  # a scratch-out: a random loop wound several times
        t = np.linspace(0, 2 * np.pi * rng.uniform(2, 5), 200)
        a, b = rng.uniform(2, 5, 2)  # slower windings draw a 0 or an 8
        points = np.stack([np.sin(a * t + rng.uniform(0, 6)), np.sin(b * t)], 1) + rng.normal(0, 0.05, (200, 2))
    _pen(draw, _warp(points, rng, rotation=180, shear=0.2), int(rng.integers(2, 14)))
    return _ink(image)


def _polygon(n: int, rng, star: bool = False) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n * (2 if star else 1), endpoint=False) + rng.uniform(0, np.pi)
    r = np.ones_like(t)
    if star:
        r[1::2] = rng.uniform(0.3, 0.55)
    return np.stack([r * np.cos(t), r * np.sin(t) * rng.uniform(0.6, 1.0)], 1)


def _shapes(rng, part, digits):
    image, draw = _canvas()
    width = int(rng.integers(2, 12))
    filled = rng.random() < 0.35
    kind = rng.integers(10)
    c, r = CANVAS / 2, CANVAS / 2 - 14
    if kind <= 2:  # rectangle, triangle, or a polygon of 5-8 sides (filled only: its outline is a 0)
        pts = _polygon([4, 3, int(rng.integers(5, 9))][kind], rng)
        pts = _warp(pts, rng, rotation=180, shear=0.4)
        if filled or kind == 2:
            draw.polygon([tuple(p) for p in pts], fill=255)
        else:
            _pen(draw, np.concatenate([pts, pts[:1]]), width)
    elif kind == 3:  # star
        pts = _warp(_polygon(int(rng.integers(5, 8)), rng, star=True), rng, rotation=180)
        draw.polygon([tuple(p) for p in pts], fill=255) if filled else _pen(draw, np.concatenate([pts, pts[:1]]), width)
    elif kind == 4:  # a disc, or a ring with a cross or with rings inside (a bare ring is a 0)
        box = (c - r, c - r * rng.uniform(0.6, 1), c + r, c + r * rng.uniform(0.6, 1))
        if filled:
            draw.ellipse(box, fill=255)
        else:
            inner_rings = rng.random() < 0.5
            if inner_rings:
                width = min(width, 5)  # thin enough to stay apart: merged rings are a 0
            draw.ellipse(box, outline=255, width=width)
            if inner_rings:
                for k in range(1, int(rng.integers(2, 4))):
                    f = k / 4 * r
                    draw.ellipse((box[0] + f, box[1] + f, box[2] - f, box[3] - f), outline=255, width=width)
            else:
                _pen(draw, np.array([[box[0], box[1]], [box[2], box[3]]]) * 0.8 + 0.1 * CANVAS, width)
                _pen(draw, np.array([[box[0], box[3]], [box[2], box[1]]]) * 0.8 + 0.1 * CANVAS, width)
    elif kind == 5:  # an X or a plus
        a = rng.uniform(0, np.pi / 2)
        for b in (a, a + np.pi / 2 + rng.uniform(-0.3, 0.3)):
            d = np.array([np.cos(b), np.sin(b)]) * r
            _pen(draw, np.array([[c, c] - d, [c, c] + d]), max(width, 4))
    elif kind == 6:  # an arrow
        pts = np.array([[0, 0], [1, 0], [0.75, 0.2], [1, 0], [0.75, -0.2]])
        _pen(draw, _warp(pts, rng, rotation=180), width)
    elif kind == 7:  # a heart
        t = np.linspace(0, 2 * np.pi, 80)
        pts = np.stack([16 * np.sin(t) ** 3, -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))], 1)
        pts = _warp(pts, rng, rotation=30)
        draw.polygon([tuple(p) for p in pts], fill=255) if filled else _pen(draw, pts, width)
    elif kind == 8:  # a grid or hash
        rows, cols = rng.integers(2, 5, 2)
        for k in range(rows):
            y = 14 + (CANVAS - 28) * (k + 0.5) / rows
            _pen(draw, np.array([[10, y], [CANVAS - 10, y]]), width)
        for k in range(cols):
            x = 14 + (CANVAS - 28) * (k + 0.5) / cols
            _pen(draw, np.array([[x, 10], [x, CANVAS - 10]]), width)
        image = _image_warp(image, rng, rotation=30)
    else:  # a spiral
        t = np.linspace(0, 2 * np.pi * rng.uniform(2, 4), 150)
        pts = np.stack([t * np.cos(t), t * np.sin(t)], 1)
        _pen(draw, _warp(pts, rng, rotation=180), width)
    return _ink(image)


def _digit_ink(digits: np.ndarray, rng) -> tuple[np.ndarray, int]:
    k = int(rng.integers(len(digits)))
    return digits[k].astype(np.float32) / 255, k


def _upscale(ink: np.ndarray, size: int = CANVAS) -> np.ndarray:
    return np.asarray(Image.fromarray((ink * 255).astype(np.uint8)).resize((size, size), Image.Resampling.BILINEAR),
                      dtype=np.float32) / 255


def _cut(ink: np.ndarray, rng) -> np.ndarray:
    rows, cols = np.nonzero(ink > 0.2)
    keep = rng.uniform(0.35, 0.6)
    side = rng.integers(4)
    lo, hi = (rows.min(), rows.max()) if side < 2 else (cols.min(), cols.max())
    cut = int(lo + keep * (hi - lo)) if side % 2 == 0 else int(hi - keep * (hi - lo))
    out = ink.copy()
    if side == 0:
        out[cut:] = 0
    elif side == 1:
        out[:cut] = 0
    elif side == 2:
        out[:, cut:] = 0
    else:
        out[:, :cut] = 0
    return out


def _is_straight(ink: np.ndarray) -> bool:
    """Whether the ink is one straight stroke (its second principal axis is short)."""
    rows, cols = np.nonzero(ink > 0.2)
    if len(rows) < 3:
        return True
    eig = np.linalg.eigvalsh(np.cov(np.stack([rows, cols]).astype(np.float64)))
    return eig[0] < 0.04 * eig[1]


def _partial(rng, part, digits):
    """A piece of a digit: one side of it cut away. A piece that is one straight stroke is
    drawn again: scaled up, it is a 1."""
    for _ in range(20):
        ink, _ = _digit_ink(digits, rng)
        piece = _cut(_upscale(ink), rng)
        if not _is_straight(piece):
            return piece
    return piece


def _pairs(rng, part, digits):
    """Two digits overlapping or touching: one shape that is no single digit."""
    a, _ = _digit_ink(digits, rng)
    b, _ = _digit_ink(digits, rng)
    canvas = np.zeros((28, 56), np.float32)
    dx = int(rng.integers(7, 17))
    dy = int(rng.integers(-3, 4))
    canvas[:, :28] = a
    shifted = np.zeros_like(canvas)
    shifted[max(0, dy):28 + min(0, dy), dx:dx + 28] = b[max(0, -dy):28 - max(0, dy)]
    return np.maximum(canvas, shifted)


def _blobs(rng, part, digits):
    kind = rng.integers(4)
    n = 48
    yy, xx = np.mgrid[0:n, 0:n] / n
    if kind == 0:  # filled irregular blobs
        field = sum(np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s ** 2))
                    for cx, cy, s in rng.uniform([0.2, 0.2, 0.05], [0.8, 0.8, 0.2], (int(rng.integers(2, 7)), 3)))
        return (field > rng.uniform(0.3, 0.7) * field.max()).astype(np.float32)
    if kind == 1:  # a smooth texture, like a photograph's shades
        small = rng.uniform(0, 1, (int(rng.integers(3, 8)),) * 2).astype(np.float32)
        return np.asarray(Image.fromarray(small).resize((n, n), Image.Resampling.BICUBIC)).clip(0, 1)
    if kind == 2:  # specks and noise
        return (rng.random((n, n)) < rng.uniform(0.02, 0.3)).astype(np.float32) * rng.uniform(0.3, 1, (n, n))
    # a splash: one blob and droplets around it
    image, draw = _canvas()
    r = rng.uniform(10, 25)
    draw.ellipse((CANVAS / 2 - r, CANVAS / 2 - r, CANVAS / 2 + r, CANVAS / 2 + r), fill=255)
    for x, y, s in rng.uniform([5, 5, 1], [CANVAS - 5, CANVAS - 5, 6], (int(rng.integers(3, 15)), 3)):
        draw.ellipse((x - s, y - s, x + s, y + s), fill=255)
    return _ink(image)


_DRAW = {"letters": _letters, "symbols": _symbols, "scribbles": _scribbles, "shapes": _shapes,
         "partial": _partial, "pairs": _pairs, "blobs": _blobs, "letters-ambiguous": _ambiguous_letters,
         "strings": _strings}
NEEDS_DIGITS = ("partial", "pairs")


def render_family(family: str, n: int, part: str = "train", seed: int = 0,
                  digits: np.ndarray | torch.Tensor | None = None) -> np.ndarray:
    """`n` non-digits of one family as uint8 n x 28 x 28 (ink high), normalized as the
    predictor normalizes real drawings. `digits` (uint8 N x 28 x 28) are the MNIST images
    that pieces of digits are cut from: pass the split matching `part`."""
    out = np.zeros((n, 28, 28), np.uint8)
    for i, (_, normalized) in enumerate(_drawn(family, n, part, seed, digits)):
        if normalized is not None:
            out[i] = normalized
    return out


def draw_family(family: str, n: int, part: str = "train", seed: int = 0,
                digits: np.ndarray | torch.Tensor | None = None) -> list[np.ndarray | None]:
    """The same `n` non-digits as drawn, before any normalization: float ink 0..1 at the
    generator's size (most on a CANVAS-pixel square, about a drawing's size), for reading
    through the whole path as a drawing. None where no drawing left any ink."""
    return [ink for ink, _ in _drawn(family, n, part, seed, digits)]


def _drawn(family: str, n: int, part: str, seed: int, digits) -> Iterator[tuple[np.ndarray | None, np.ndarray | None]]:
    """Each of the `n` non-digits as drawn and as normalized; (None, None) where no drawing
    left any ink."""
    if family not in _DRAW:
        raise DigitlabError(f"unknown non-digit family {family!r}; choose from {', '.join(_DRAW)}")
    if part not in PARTS:
        raise DigitlabError(f"unknown part {part!r}; choose from {', '.join(PARTS)}")
    if family in NEEDS_DIGITS:
        if digits is None or len(digits) == 0:
            raise DigitlabError(f"the {family!r} family needs MNIST digits to cut from")
        digits = digits.numpy() if torch.is_tensor(digits) else np.asarray(digits)
        digits = digits.reshape(-1, 28, 28)
    for i in range(n):
        rng = _rng(seed, part, family, i)
        found = (None, None)
        for _ in range(10):  # a drawing that left no ink (all clipped away) is drawn again
            ink = _DRAW[family](rng, part, digits)
            normalized = normalize_ink(ink)
            if normalized is not None:
                found = (ink, normalized)
                break
        yield found


def family_counts(n: int, families: tuple[str, ...] = FAMILIES) -> dict[str, int]:
    """How many of `n` bank images each family gets, by MIX (equal shares for unlisted ones)."""
    weights = np.array([MIX.get(f, 1 / len(families)) for f in families])
    counts = np.floor(weights / weights.sum() * n).astype(int)
    counts[: n - counts.sum()] += 1
    return dict(zip(families, counts.tolist()))


_BANKS: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}  # the last banks rendered in this process
KEPT_BANKS = 2


def negative_bank(n: int, part: str = "train", seed: int = 0, digits: np.ndarray | torch.Tensor | None = None,
                  families: tuple[str, ...] = FAMILIES) -> tuple[torch.Tensor, torch.Tensor]:
    """A bank of `n` non-digits mixed by family: uint8 images n x 28 x 28 and each one's
    family index (into `families`). Training samples batches from it and augments them.

    Rendering takes seconds; the trials of a study or search that share their training
    digits (same fold and subset) share one bank, kept here while it is among the last
    KEPT_BANKS asked for. The tensors returned are read-only by convention."""
    cut_from = b"" if digits is None else (digits.numpy() if torch.is_tensor(digits) else np.asarray(digits)).tobytes()
    key = (n, part, seed, tuple(families), hashlib.sha256(cut_from).hexdigest())
    if key not in _BANKS:
        while len(_BANKS) >= KEPT_BANKS:
            del _BANKS[next(iter(_BANKS))]
        _BANKS[key] = _cached_bank(n, part, seed, digits, families, key[-1])
    return _BANKS[key]


def _cached_bank(n: int, part: str, seed: int, digits, families: tuple[str, ...], digits_sha: str
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """The bank from the data directory's cache (generated.py), rendered once per seed."""
    from . import mnist_style, negatives

    found = cached("negatives", {"n": n, "part": part, "seed": seed, "families": list(families),
                                 "digits": digits_sha}, [negatives, mnist_style],
                   lambda: dict(zip(("images", "families"), (t.numpy() for t in _render_bank(n, part, seed, digits,
                                                                                            families)))))
    return torch.from_numpy(found["images"]), torch.from_numpy(found["families"])


def _render_bank(n: int, part: str, seed: int, digits, families: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = [], []
    for k, (family, count) in enumerate(family_counts(n, families).items()):
        images.append(render_family(family, count, part, seed, digits))
        labels.append(np.full(count, k, np.int64))
    return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels))
