"""Any picture of handwriting -> MNIST-style 28x28 digits, the way MNIST itself was made.

decode (PNG, JPEG, WebP, GIF first frame; bounded size) -> grayscale -> polarity
(dark ink on light paper, or the reverse) -> ink found above the background with a
noise tolerance -> split into digits (connected components, strokes of one digit
merged, small marks joined to the digit beside them, left to right) -> each digit fitted into a 20x20 box keeping its aspect
ratio, with anti-aliasing -> placed in 28x28 by its centre of mass.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

from ..data.mnist_style import NOISE_FLOOR, to_mnist
from ..errors import DigitlabError
from .bounds import MAX_SIDE

MAX_DIGITS = 12
INK_THRESHOLD = 0.25  # of the strongest ink: what counts as a stroke when finding digits
MIN_COMPONENT = 0.002  # components smaller than this share of the ink's bounding box area are specks


class ImageError(DigitlabError):
    """The input is not an image we can read (the web API answers 4xx with this text)."""


@dataclass
class Digit:
    image: np.ndarray  # uint8 28 x 28, ink high, as MNIST
    box: tuple[int, int, int, int]  # x, y, width, height in the input image


def decode_image(data: bytes) -> np.ndarray:
    """Bytes of a PNG, JPEG, WebP or GIF (first frame) -> float32 grayscale H x W in 0..255.

    Transparent pixels are laid on whichever background contrasts with the opaque ink,
    so ink drawn on a transparent canvas reads the same in either colour."""
    if not data:
        raise ImageError("the image is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width > MAX_SIDE or image.height > MAX_SIDE:
                raise ImageError(f"the image is {image.width}x{image.height}; at most {MAX_SIDE}x{MAX_SIDE} "
                                 "pixels are accepted")
            if image.format not in ("PNG", "JPEG", "WEBP", "GIF"):
                raise ImageError(f"{image.format} images are not accepted; send PNG, JPEG, WebP or GIF")
            image.seek(0)
            image.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"the image claims far more pixels than it could hold (a decompression bomb?); at most "
                         f"{MAX_SIDE}x{MAX_SIDE} pixels are accepted") from None
    except UnidentifiedImageError:
        raise ImageError("the data is not a readable image (PNG, JPEG, WebP or GIF)") from None
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        raise ImageError(f"the image is damaged or truncated ({e})") from None
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255
        gray = np.asarray(rgba.convert("L"), dtype=np.float32)
        opaque = alpha > 0.5
        ink_is_dark = not opaque.any() or gray[opaque].mean() < 128
        paper = 255.0 if ink_is_dark else 0.0
        return gray * alpha + paper * (1 - alpha)
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # 16-bit grayscale PNGs open as these
        values = np.asarray(image, dtype=np.float32)
        top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        return np.clip(values * (255.0 / top), 0, 255)  # scaled, not clipped: full-range ink stays ink
    return np.asarray(image.convert("L"), dtype=np.float32)


def ink_map(gray: np.ndarray) -> np.ndarray:
    """Ink strength 0..1 with the background at 0, whatever the polarity.

    The background is the level of the image border (median), so light-on-dark and
    dark-on-light both work; ink below NOISE_FLOOR of the strongest ink is dropped.
    Faint anti-aliased edges stay: MNIST's digits have them too."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    ink = background - gray if background >= 128 else gray - background
    ink = np.clip(ink, 0, None)
    peak = float(ink.max())
    if peak < 32:  # less than an eighth of the full range above the paper: nothing drawn
        return np.zeros_like(ink)
    ink = ink / peak
    ink[ink < NOISE_FLOOR] = 0
    return ink


def _merge_strokes(boxes: list[list[int]]) -> list[list[int]]:
    """Merge components that belong to one digit: their column ranges overlap by 30% of
    the narrower one (a 7's bar across its stem, a broken loop), or at all where one is
    a small stroke beside a large one or sits above the other (a 5's flag). Boxes are
    [x0, y0, x1, y1, members, area]."""
    boxes = sorted(boxes, key=lambda b: b[0])
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                overlap = min(a[2], b[2]) - max(a[0], b[0])
                narrower = min(a[2] - a[0], b[2] - b[0])
                small = min(a[5], b[5]) < 0.25 * max(a[5], b[5])
                rows = min(a[3], b[3]) - max(a[1], b[1])
                stacked = rows < 0.5 * min(a[3] - a[1], b[3] - b[1])  # one above the other
                if overlap > 0.3 * narrower or (overlap > 0 and (small or stacked)):
                    boxes[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]), a[4] + b[4],
                                a[5] + b[5]]
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    return sorted(boxes, key=lambda b: b[0])


MARK = 0.35  # a group smaller than this share of the tallest group's height both ways is a mark
MARK_REACH = 0.5  # ... and joins the nearest group within this share of that height


def _attach_marks(boxes: list[list]) -> list[list]:
    """Small marks beside a digit (a dot or a tick: a stroke that came off it, as in some of
    MNIST's own digits) join the nearest group, when one is near. Boxes as in _merge_strokes."""
    if len(boxes) < 2:
        return boxes
    height = float(max(b[3] - b[1] for b in boxes))
    boxes = [list(b) for b in boxes]
    i = 0
    while i < len(boxes) and len(boxes) > 1:
        b = boxes[i]
        if b[3] - b[1] < MARK * height and b[2] - b[0] < MARK * height:
            others = [j for j in range(len(boxes)) if j != i]
            apart = [max(0, max(boxes[j][0], b[0]) - min(boxes[j][2], b[2])) for j in others]
            j = others[int(np.argmin(apart))]
            if min(apart) < MARK_REACH * height:
                a = boxes[j]
                boxes[j] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]), a[4] + b[4],
                            a[5] + b[5]]
                del boxes[i]
                i = 0
                continue
        i += 1
    return sorted(boxes, key=lambda b: b[0])


@dataclass
class Piece:
    """One group of strokes the splitter keeps together: usually one digit, or several whose
    ink touches (segment.py reads those)."""
    ink: np.ndarray  # float 0..1, the group's strokes only, cropped to `box`
    box: tuple[int, int, int, int]  # x, y, width, height in the input image


def find_pieces(gray: np.ndarray) -> list[Piece]:
    """The stroke groups of a grayscale picture, left to right; empty when there is no ink."""
    ink = ink_map(gray)
    mask = ink > INK_THRESHOLD
    if not mask.any():
        return []
    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    slices = ndimage.find_objects(labels)
    areas = ndimage.sum(mask, labels, range(1, count + 1))
    ys, xs = np.nonzero(mask)
    extent = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    boxes = []
    for k, (sl, area) in enumerate(zip(slices, areas), 1):
        if area >= max(2, MIN_COMPONENT * extent):
            boxes.append([sl[1].start, sl[0].start, sl[1].stop, sl[0].stop, [k], float(area)])
    pieces = []
    pad = 2
    for x0, y0, x1, y1, members, _ in _attach_marks(_merge_strokes(boxes))[:MAX_DIGITS]:
        # the group's strokes and their faint edges (2 pixels around), nothing of a neighbour's
        y0, x0 = max(0, y0 - pad), max(0, x0 - pad)
        y1, x1 = min(ink.shape[0], y1 + pad), min(ink.shape[1], x1 + pad)
        own = ndimage.binary_dilation(np.isin(labels[y0:y1, x0:x1], members), iterations=pad)
        pieces.append(Piece(ink[y0:y1, x0:x1] * own, (int(x0), int(y0), int(x1 - x0), int(y1 - y0))))
    return pieces


def find_digits(gray: np.ndarray) -> list[Digit]:
    """The digits of a grayscale picture as the stroke groups give them (one digit per group),
    left to right; empty when there is no ink. `segment.read_digits` also splits touching ones."""
    return [Digit(to_mnist(p.ink), p.box) for p in find_pieces(gray)]
