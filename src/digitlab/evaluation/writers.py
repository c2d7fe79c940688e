"""Other writers: how the reader does on handwriting that nothing in digitlab was made from.

digitlab trains on MNIST and on its own generators only. This check renders digits, numbers
and letters from three Debian handwriting fonts (`fonts-humor-sans`, `fonts-ecolier-court`,
`fonts-havana`: a comic-book hand, a French school cursive and a brush script) and reads
them the way `digitlab predict` reads a drawing, as a picture of the size a person draws
on the drawing page: dark ink on white paper, the writing 40-110 px tall, slanted, turned a
little, with its own pen width.

The rule: these images are NEVER trained on. Like a validation set, choices may be made on
them (a threshold, a recipe); what is reported from them is then no longer an unbiased
figure, only a check that the reader holds up on writers it has never seen.
"""

from __future__ import annotations

import math
import string
import subprocess
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from scipy import ndimage

from ..errors import DigitlabError

if TYPE_CHECKING:
    from ..recognition.predictor import Predictor

PACKAGES = ("fonts-humor-sans", "fonts-ecolier-court", "fonts-havana")
INSTALL = "apt-get install -y -q " + " ".join(PACKAGES)
FONT_SUFFIXES = (".ttf", ".otf")

# Letters a reader may rightly take for a digit, never shown as "not a digit":
#   O o D Q -> 0   (D and Q as the fonts draw them are rounded: Humor Sans's D is a 0 with a
#                   flat side, Ecolier's school Q is drawn like a 2, the others' Q is a 0 with a tail)
#   l I i j -> 1   (a single down-stroke; the dot of i and j is lost among specks)
#   Z z -> 2, S s -> 5, B -> 8, b G -> 6, g q -> 9
# D and Q go beyond the list in the brief; data/negatives.py also never teaches D as a non-digit.
DIGIT_LIKE = "OoDQlIijZzSsBbGgq"
LETTERS = "".join(c for c in string.ascii_letters if c not in DIGIT_LIKE)
# Glyphs a font draws wrongly: Ecolier-court's W carries a stray rule about a glyph's height
# below itself (at 100 px: a 106 x 7 px bar 90 px under the letter), which no hand draws.
BROKEN_GLYPHS = {"Ecolier-court": "W"}

PAPER = (280, 560)  # rows, columns: the drawing page's canvas (web/static/index.html)
MARGIN = 12  # at least this much blank paper around the writing
HEIGHT = (40, 110)  # ink height in px: what people draw on a 280 px high canvas
SHEAR = 15  # degrees of slant, either way
ROTATION = 5  # degrees the whole line is turned, either way
# The pen: a radius in px added to each side of the font's strokes (negative: taken off), by
# dilating or eroding the glyph drawn at SUPER times the size. Not Pillow's stroke_width: on
# Ecolier-court it breaks hairlines instead of thickening them (the 4's diagonal at size 150:
# 5 px across with stroke_width 0, a 2 px fragment with stroke_width 2).
PEN = (-1.5, 3.0)
SUPER = 4
# The thinnest stroke a pen leaves, in px: no stroke is thinned below it, and hairlines are
# thickened to it. Ecolier-court's hairlines are 0.7% of its digits' height, 0.3 px at 40 px:
# drawn as they are they break into faint pieces, which no drawing does (the drawing page's
# thinnest pen is 6 px).
MIN_STROKE = 2.5
BLUR = (0.3, 1.0)  # Gaussian radius in px: a soft pen edge, as a resized canvas has
INK = (0, 40)  # the ink's gray level
GAP = (0.3, 0.7)  # spaced numbers: blank between digits, as a share of the ink height
REFERENCE_SIZE = 200  # font size at which texts are measured
HAIRLINE_SIZE = 800  # font size at which strokes are measured (_hairline)


@dataclass(frozen=True)
class WriterItem:
    image: np.ndarray  # uint8 H x W, dark ink on white paper
    text: str | None  # the truth: the digits written, or None for "not a digit"
    font: str  # the font file's stem
    family: str
    written: str  # what was drawn (the letters themselves for the non-digit families)


@dataclass(frozen=True)
class Hand:
    """How one item is written: its size, slant, turn, pen and place on the paper."""

    height: float  # ink height in px before slant and turn
    pen: float  # px added to each side of the strokes (negative: taken off)
    shear: float  # degrees, positive leans right
    angle: float  # degrees, counter-clockwise
    blur: float
    ink: int
    gap: float  # share of the height, spaced numbers only
    where: tuple[float, float]  # position on the paper, 0..1 of the free room (rows, columns)


# --- fonts -------------------------------------------------------------------------------------


def _package_fonts(package: str) -> list[Path]:
    """The TTF/OTF files dpkg lists for `package` (none when it is not installed)."""
    try:
        listing = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True, check=False).stdout
    except OSError:  # no dpkg: not a Debian system
        return []
    return sorted(Path(line) for line in listing.splitlines() if line.lower().endswith(FONT_SUFFIXES))


@lru_cache(maxsize=1)
def font_files() -> tuple[Path, ...]:
    """Every font file of the three packages, package by package."""
    found = {package: [f for f in _package_fonts(package) if f.is_file()] for package in PACKAGES}
    missing = [package for package, files in found.items() if not files]
    if missing:
        raise DigitlabError(f"the other-writers check needs the fonts of {', '.join(missing)}; "
                            f"install them with: {INSTALL}")
    return tuple(f for files in found.values() for f in files)


@lru_cache(maxsize=512)
def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size)


@cache
def _hairline(path: Path) -> float:
    """The font's thinnest strokes (5th percentile of stroke widths along the strokes' middle)
    as a share of its digits' ink height, measured at font size 800 (digits 400-620 px tall):
    Humor-Sans 0.098, Havana 0.077, Ecolier-court 0.007 (at size 200 the pixel grid hides
    Ecolier's hairlines: 0.020)."""
    font = _font(path, HAIRLINE_SIZE)
    left, top, right, bottom = font.getbbox(string.digits, anchor="ls")
    image = Image.new("L", (right - left + 8, bottom - top + 8), 0)
    ImageDraw.Draw(image).text((4 - left, 4 - top), string.digits, font=font, fill=255, anchor="ls")
    ink = np.asarray(image) > 127
    distance = ndimage.distance_transform_edt(ink)
    middle = ink & (distance == ndimage.maximum_filter(distance, 3))
    return float(np.percentile(2 * distance[middle], 5)) / (bottom - top)


# --- drawing -----------------------------------------------------------------------------------


def _hand(rng: np.random.Generator) -> Hand:
    return Hand(height=rng.uniform(*HEIGHT), pen=rng.uniform(*PEN), shear=rng.uniform(-SHEAR, SHEAR),
                angle=rng.uniform(-ROTATION, ROTATION), blur=rng.uniform(*BLUR),
                ink=int(rng.integers(INK[0], INK[1] + 1)), gap=rng.uniform(*GAP), where=(rng.random(), rng.random()))


def _pen(path: Path, hand: Hand) -> float:
    """The hand's pen, held where the font's thinnest strokes would end up under MIN_STROKE."""
    hairline = _hairline(path) * hand.height
    return max(hand.pen, (MIN_STROKE - hairline) / 2)


def _stroked(coverage: np.ndarray, radius: float) -> np.ndarray:
    """Ink (coverage over 1/4) grown by `radius` px all round, or shrunk where it is negative."""
    ink = coverage > 0.25
    if radius >= 0:
        return np.maximum(coverage, ndimage.distance_transform_edt(~ink) <= radius)
    return np.where(ndimage.distance_transform_edt(ink) > -radius, coverage, 0)


def _glyphs(text: str, font: ImageFont.FreeTypeFont, pen: float, rows: int, baseline: int) -> np.ndarray:
    """`text` drawn with `font` (at SUPER times the size wanted) and the pen, on `rows` rows with
    its baseline at `baseline`, then brought down to the size wanted: coverage 0..1."""
    left, _, right, _ = font.getbbox(text, anchor="ls")
    margin = math.ceil(max(pen, 0) * SUPER) + 2 * SUPER
    width = -(-(right - left + 2 * margin) // SUPER) * SUPER  # a multiple of SUPER
    image = Image.new("L", (width, rows), 0)
    ImageDraw.Draw(image).text((margin - left, baseline), text, font=font, fill=255, anchor="ls")
    ink = _stroked(np.asarray(image, np.float32) / 255, pen * SUPER)
    return np.asarray(Image.fromarray(np.round(ink * 255).astype(np.uint8)).reduce(SUPER), np.float32) / 255


def _slanted(ink: np.ndarray, baseline: float, hand: Hand) -> np.ndarray:
    """`ink` slanted about its baseline, then turned about the baseline's middle, in one affine
    step, on a canvas grown by half its height all round (room for 15 degrees of slant and for
    turning a 5-digit number by 5 degrees); then cut to the columns its ink covers."""
    pad = ink.shape[0] // 2
    image = Image.fromarray(np.round(np.pad(ink, pad) * 255).astype(np.uint8))
    centre = np.array([image.width / 2, baseline + pad])
    k, a = math.tan(math.radians(hand.shear)), math.radians(hand.angle)
    slant = np.array([[1, -k], [0, 1]])  # a point h px above the baseline moves k * h to the right
    turn = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])  # counter-clockwise on screen
    back = np.linalg.inv(turn @ slant)  # Pillow maps each output pixel back to the input
    shift = centre - back @ centre
    image = image.transform(image.size, Image.Transform.AFFINE, (*back[0], shift[0], *back[1], shift[1]),
                            resample=Image.Resampling.BICUBIC)
    out = np.asarray(image, np.float32) / 255
    columns = np.flatnonzero(out.max(0) > 0)
    return out[:, columns[0]:columns[-1] + 1] if len(columns) else out[:, :0]


def _line(chunks: list[str], path: Path, hand: Hand) -> np.ndarray:
    """The chunks side by side on one baseline: as the font sets them (one chunk), or each
    digit on its own with hand.gap blank between (spaced). Coverage 0..1, cut to the ink."""
    text = "".join(chunks)
    measured = _font(path, REFERENCE_SIZE).getbbox(text, anchor="ls")
    size = max(4, round(REFERENCE_SIZE * hand.height / (measured[3] - measured[1])))
    font = _font(path, size * SUPER)
    pen = _pen(path, hand)
    _, top, _, bottom = font.getbbox(text, anchor="ls")
    margin = math.ceil(max(pen, 0) * SUPER) + 2 * SUPER
    rows = -(-(bottom - top + 2 * margin) // SUPER) * SUPER
    baseline = margin - top
    pieces = [_slanted(_glyphs(c, font, pen, rows, baseline), baseline / SUPER, hand) for c in chunks]
    gap = np.zeros((pieces[0].shape[0], round(hand.gap * hand.height)), np.float32)
    ink = np.concatenate([p for piece in pieces for p in (piece, gap)][:-1], axis=1)
    ink = np.asarray(Image.fromarray(np.round(ink * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(hand.blur)),
                     np.float32) / 255
    rows_used, cols_used = np.flatnonzero(ink.max(1) > 0), np.flatnonzero(ink.max(0) > 0)
    return ink[rows_used[0]:rows_used[-1] + 1, cols_used[0]:cols_used[-1] + 1]


def _on_paper(ink: np.ndarray, hand: Hand) -> np.ndarray:
    """Dark ink on white paper of the drawing page's size (wider where the writing needs it)."""
    h, w = ink.shape
    rows, cols = max(PAPER[0], h + 2 * MARGIN), max(PAPER[1], w + 2 * MARGIN)
    y = MARGIN + round(hand.where[0] * (rows - h - 2 * MARGIN))
    x = MARGIN + round(hand.where[1] * (cols - w - 2 * MARGIN))
    coverage = np.zeros((rows, cols), np.float32)
    coverage[y:y + h, x:x + w] = ink
    return np.round(255 - coverage * (255 - hand.ink)).astype(np.uint8)


def render(chunks: list[str], path: Path, hand: Hand) -> np.ndarray:
    """The chunks written with the font at `path` by `hand`: uint8 H x W, dark on white."""
    return _on_paper(_line(chunks, path, hand), hand)


# --- families ----------------------------------------------------------------------------------


def _number(rng: np.random.Generator) -> str:
    """2-5 digits; no leading 0, as people write numbers."""
    digits = rng.integers(0, 10, int(rng.integers(2, 6)))
    digits[0] = rng.integers(1, 10)
    return "".join(map(str, digits))


def _letters(rng: np.random.Generator, font: str, count: int) -> str:
    allowed = [c for c in LETTERS if c not in BROKEN_GLYPHS.get(font, "")]
    return "".join(rng.choice(allowed, count))


@dataclass(frozen=True)
class _Family:
    text: Callable[[int, np.random.Generator, str], str]  # (round, rng, font stem) -> what is written
    digits: bool  # the truth is the text (else "not a digit")
    spaced: bool  # each character on its own, a gap between


# `round` is the item's index divided by the number of fonts: single digits run 0..9 for each
# font in turn, so every font writes every digit equally often.
_FAMILIES = {
    "digits": _Family(lambda round_, rng, font: str(round_ % 10), digits=True, spaced=False),
    "numbers_spaced": _Family(lambda round_, rng, font: _number(rng), digits=True, spaced=True),
    "numbers_written": _Family(lambda round_, rng, font: _number(rng), digits=True, spaced=False),
    "letters": _Family(lambda round_, rng, font: _letters(rng, font, 1), digits=False, spaced=False),
    "letter_strings": _Family(lambda round_, rng, font: _letters(rng, font, int(rng.integers(2, 4))), digits=False,
                              spaced=False),
}
FAMILIES = tuple(_FAMILIES)


def writer_item(family: str, index: int, seed: int) -> WriterItem:
    """Item `index` of a family: its own random stream (seed, family, index), so a set's first
    items are the same whatever its length; the fonts take turns."""
    if family not in _FAMILIES:
        raise DigitlabError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")
    fonts = font_files()
    path = fonts[index % len(fonts)]
    rng = np.random.default_rng(np.random.SeedSequence([seed, FAMILIES.index(family), index]))
    spec = _FAMILIES[family]
    written = spec.text(index // len(fonts), rng, path.stem)
    image = render(list(written) if spec.spaced else [written], path, _hand(rng))
    return WriterItem(image, written if spec.digits else None, path.stem, family, written)


def writer_set(family: str, count: int, seed: int) -> list[WriterItem]:
    """`count` items of `family`, seeded."""
    return [writer_item(family, i, seed) for i in range(count)]


# --- the check ---------------------------------------------------------------------------------


def _field(answer, name: str):
    """A field of the predictor's answer, a dict or an object with the same names."""
    return answer[name] if isinstance(answer, Mapping) else getattr(answer, name)


@dataclass(frozen=True)
class _Read:
    number: str | None
    count: int  # digits read
    rejected: bool


def _read(predictor: Predictor, item: WriterItem) -> _Read:
    """The item read as `digitlab predict` reads a decoded picture (float32 gray, 0..255)."""
    answer = predictor.read_gray(item.image.astype(np.float32))
    return _Read(_field(answer, "number"), len(_field(answer, "digits")), bool(_field(answer, "rejected")))


def _share(flags) -> float | None:
    flags = list(flags)
    return sum(flags) / len(flags) if flags else None


def _by_font(items: list[WriterItem], flags: list[bool]) -> dict[str, float | None]:
    groups = defaultdict(list)
    for item, flag in zip(items, flags):
        groups[item.font].append(flag)
    return {font: _share(group) for font, group in groups.items()}


def _digit_figures(items: list[WriterItem], reads: list[_Read]) -> dict:
    """Read right = the exact digits and not rejected; `several` (single digits) = read as more
    than one digit; `miscounted` (numbers) = read with another number of digits."""
    right = [r.number == item.text and not r.rejected for item, r in zip(items, reads)]
    figures = {"n": len(items), "right": _share(right), "rejected": _share(r.rejected for r in reads)}
    if all(len(item.text) == 1 for item in items):
        figures["several"] = _share(r.count > 1 for r in reads)
    else:
        figures["miscounted"] = _share(r.count != len(item.text) for item, r in zip(items, reads))
    figures["by_font"] = _by_font(items, right)
    return figures


def _letter_figures(items: list[WriterItem], reads: list[_Read]) -> dict:
    """Rejected is right here; of the accepted, how many were read as several digits, and
    what each accepted text was read as."""
    accepted = [(item, r) for item, r in zip(items, reads) if not r.rejected]
    accepted_as = defaultdict(Counter)
    for item, r in accepted:
        accepted_as[item.written][r.number] += 1
    return {"n": len(items), "rejected": _share(r.rejected for r in reads), "accepted": len(accepted) / len(items),
            "several_of_accepted": _share(r.count > 1 for _, r in accepted),
            "by_font": _by_font(items, [r.rejected for r in reads]),
            "accepted_as": {text: dict(c) for text, c in sorted(accepted_as.items())}}


def check_writers(predictor: Predictor, count_per_family: int, seed: int = 0) -> dict:
    """Every family's items read by `predictor`: per family its figures and, per font, the main
    one (digits and numbers: share read right; letters: share rejected)."""
    families = {}
    for family in FAMILIES:
        items = writer_set(family, count_per_family, seed)
        reads = [_read(predictor, item) for item in items]
        figures = _digit_figures if _FAMILIES[family].digits else _letter_figures
        families[family] = figures(items, reads)
    return {"count_per_family": count_per_family, "seed": seed, "fonts": [f.stem for f in font_files()],
            "families": families}


def _percent(x: float | None) -> str:
    return "     -" if x is None else f"{100 * x:5.1f}%"


def _font_columns(figures: dict, fonts: list[str]) -> str:
    return "".join(f"{_percent(figures['by_font'].get(font)):>15}" for font in fonts)


def format_writers(result: dict) -> str:
    """The result as a small table: digit families (share read right), then the letters
    (share rejected), each with its per-font figure; then what accepted letters were read as."""
    fonts = result["fonts"]
    font_heads = "".join(f"{f[:14]:>15}" for f in fonts)
    lines = [(f"other writers: {len(fonts)} fonts never trained on, {result['count_per_family']} per family, "
              f"seed {result['seed']}"),
             "", f"{'read right':<17}{'n':>5}{'right':>8}{'rejected':>10}{'several*':>10}{font_heads}"]
    families = result["families"]
    for family, f in families.items():
        if "right" in f:
            wrong_count = f.get("several", f.get("miscounted"))
            lines.append(f"{family:<17}{f['n']:>5}{_percent(f['right']):>8}{_percent(f['rejected']):>10}"
                         f"{_percent(wrong_count):>10}" + _font_columns(f, fonts))
    lines += ["", f"{'not digits':<17}{'n':>5}{'rejected':>9}{'accepted':>9}{'several**':>10}{font_heads}"]
    for family, f in families.items():
        if "accepted" in f:
            lines.append(f"{family:<17}{f['n']:>5}{_percent(f['rejected']):>9}{_percent(f['accepted']):>9}"
                         f"{_percent(f['several_of_accepted']):>10}" + _font_columns(f, fonts))
    lines += ["", "* single digits: read as several digits; numbers: read with the wrong number of digits",
              "** of the accepted, share read as several digits; per font: share rejected"]
    if "letters" in families and families["letters"]["accepted_as"]:
        seen = sorted(families["letters"]["accepted_as"].items(), key=lambda kv: -sum(kv[1].values()))
        lines.append("letters accepted as digits: " + ", ".join(
            text + "->" + "/".join(f"{number}x{n}" for number, n in reads.items()) for text, reads in seen))
    return "\n".join(lines)
