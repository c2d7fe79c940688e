"""Reading numbers whose digits touch or overlap: a line reader, and segmentation driven
by recognition where it sees no digit.

The stroke groups of `preprocess.find_pieces` are digits when people leave space between
them. A group that is wide for one digit (wider than `WIDE` times its height), or that
the model doubts (below the rejection threshold), may be several digits whose ink
touches. With a line reader (line_reader.py: a CTC network trained on the stroke groups of
generated numbers), such a group is read whole by it (`read_digits`). Without one, or
where it sees no digit in the group, the group is over-segmented and the classifier
picks the cut:

1. slant: each of `SHEARS` (0 and +-15 degrees) is tried; under each, the group is
   sheared upright (a writer's lean taken off) so that the gaps between digits stand
   vertical. The slant whose best split reads best wins: it is estimated by recognition. (A slant estimated from
   the ink alone, by the sharpest column profile or the longest unbroken columns, was
   pulled 15-20 degrees off by the diagonals of 7s, 4s and 1s: docs/numbers.md.)
2. candidate cuts: the valleys of the upright column profile (where few strokes cross),
   the middle of every blank run, at least `CUT_SPACING` of the height apart; each cut
   is a path from top to bottom that may weave `REACH` of the height around its column,
   crossing as little ink as it can (so it slips between strokes that overlap in columns);
3. every span between two cuts that could be one digit (`MIN_SPAN` to `MAX_SPAN` of the
   height wide) is cut out as drawn, normalized as a digit and classified, all spans of
   all slants in one batch;
4. the reading is the path of spans from the left edge to the right edge with the best
   total log digit score (`rejection.digit_scores`, the top probability: the score the
   "not a digit" threshold is set on; dynamic programming; LeCun et al. 1998,
   "Gradient-based learning applied to document recognition", heuristic
   over-segmentation). A model
   trained with non-digits (pieces of digits, two digits overlapping) is unsure on half
   a digit or two at once, so a right cut scores best.

The split replaces the group's one-digit reading only when it scores better by
`SPLIT_MARGIN` (`NARROW_MARGIN` for a group that is not wide) and each of its digits
passes the rejection threshold. A group that is neither wide nor doubted is read as it
always was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from ..data.mnist_style import to_mnist
from .preprocess import MAX_DIGITS, Digit, Piece
from .rejection import digit_scores

WIDE = 0.95  # a group wider than this share of its height may be several digits
MIN_SPAN, MAX_SPAN = 0.1, 1.15  # a digit's width, as a share of the group's height
CUT_SPACING = 0.12  # candidate cuts at least this share of the height apart
WORK_HEIGHT = 56  # pixels: a taller group is cut at this height
REACH = 0.25  # a cut path strays at most this share of the height from its column
MAX_CUTS = 24
SPLIT_MARGIN = 0.0  # log-probability a split must gain over reading the group as one digit
NARROW_MARGIN = 1.0  # the same for a group no wider than WIDE: one digit is far likelier
SHEARS = (-0.27, 0.0, 0.27)  # slants tried (x shift per row up: 0 and +-15 degrees)


@dataclass
class DigitGuess:
    """One digit as the reading path read it: its picture and box, and the class probabilities."""

    digit: Digit
    probs: np.ndarray  # the ten class probabilities
    # the "not a digit" score, when it is not the top probability: a digit the line reader read
    # is judged by the classifier on its picture, as every other digit is
    score: float | None = None
    not_a_digit: bool = False  # the group judge (group_judge.py) judged its whole group not a digit

    @property
    def digit_score(self) -> float:
        return float(self.probs.max()) if self.score is None else self.score


def _deslant(ink: np.ndarray, shear: float) -> tuple[np.ndarray, float]:
    """The ink with x' = x - shear * (bottom - y) + offset; returns it and the offset."""
    h, w = ink.shape
    rise = h - 1
    shift = abs(shear) * rise
    offset = shift if shear > 0 else 0.0
    out_w = int(np.ceil(w + shift)) + 1
    # output (y, x') <- input (y, x' + shear * (rise - y) - offset)
    matrix = np.array([[1.0, 0.0], [-shear, 1.0]])
    out = ndimage.affine_transform(ink, matrix, offset=(0.0, shear * rise - offset), output_shape=(h, out_w),
                                   order=1)
    return out, offset


def candidate_cuts(ink: np.ndarray, height: int) -> list[int]:
    """Columns where a cut crosses the least ink, inside the ink's extent: the middle of every
    blank run, then the valleys of the smoothed column profile, at least CUT_SPACING * height
    apart, the deepest first kept."""
    profile = ndimage.uniform_filter1d(ink.sum(0), 3)
    cols = np.nonzero(profile > 0)[0]
    first, last = int(cols[0]), int(cols[-1])
    x = np.arange(first + 1, last)
    valley = x[(profile[x] <= profile[x - 1]) & (profile[x] <= profile[x + 1])]
    blank = profile[x] <= 1e-6 * profile.max()
    if blank.any():  # one cut in the middle of each blank run, not one per blank column
        runs, n = ndimage.label(blank)
        middles = [int(np.mean(x[runs == k])) for k in range(1, n + 1)]
        valley = np.union1d(valley[profile[valley] > 1e-6 * profile.max()], middles).astype(np.int64)
    spacing = max(2, int(CUT_SPACING * height))
    kept: list[int] = []
    for c in valley[np.argsort(profile[valley], kind="stable")]:
        if c - first >= spacing and last - c >= spacing and all(abs(c - k) >= spacing for k in kept):
            kept.append(int(c))
            if len(kept) == MAX_CUTS:
                break
    return sorted(kept)


def _spans(cuts: list[int], height: int) -> list[tuple[int, int]]:
    lo, hi = MIN_SPAN * height, MAX_SPAN * height
    return [(a, b) for i, a in enumerate(cuts) for b in cuts[i + 1:] if lo <= b - a <= hi]


def cut_paths(ink: np.ndarray, starts: list[int], reach: int) -> dict[int, np.ndarray]:
    """For each column in `starts`, the cheapest way from the top row to the bottom row near
    it: one column per row, moving at most one column a row, never more than `reach` from
    the start; a step costs the ink it crosses (and a little for leaving the straight line).
    A path slips between strokes that overlap in columns but do not cross, and crosses a
    stroke where it is thinnest when they do. All paths are found together, row by row."""
    if not starts:
        return {}
    h, w = ink.shape
    offsets = np.arange(-reach, reach + 1)
    cols = np.asarray(starts)[:, None] + offsets  # paths x band
    outside = (cols < 0) | (cols >= w)
    band = np.where(outside[None], np.inf, ink[:, np.clip(cols, 0, w - 1)].astype(np.float64))  # rows x paths x band
    detour = 0.01 * np.abs(offsets)
    cost = band[0] + detour
    moves = np.zeros((h,) + cols.shape, np.int8)
    blocked = np.full((len(starts), 1), np.inf)
    for y in range(1, h):
        options = np.stack([np.concatenate([blocked, cost[:, :-1]], 1), cost,
                            np.concatenate([cost[:, 1:], blocked], 1)])
        moves[y] = options.argmin(0) - 1
        cost = band[y] + detour + options.min(0) + 0.002 * (moves[y] != 0)
    every = np.arange(len(starts))
    x = cost.argmin(1)
    path = np.empty((h, len(starts)), np.int64)
    for y in range(h - 1, -1, -1):  # back up all paths together
        path[y] = x
        x = x + moves[y, every, x]  # the column each came from in the row above
    columns = path - reach + np.asarray(starts)
    return {start: columns[:, i] for i, start in enumerate(starts)}


def candidate_spans(piece: Piece, shear: float) -> list[tuple[tuple[int, int], np.ndarray, int]]:
    """Every span of a stroke group between two cut paths that could hold one digit, with its
    ink and the column of the group's crop where that ink starts: cuts are found on the
    upright ink, each span keeps the ink as drawn (the model has seen slanted digits:
    MNIST's own lean)."""
    upright, offset = _deslant(piece.ink, shear)
    rows = np.nonzero(upright.max(1) > 0.25)[0]
    if len(rows) == 0:
        return []
    height = int(rows[-1] - rows[0] + 1)
    cols = np.nonzero(upright.max(0) > 0)[0]
    inner = candidate_cuts(upright, height)
    h, w = piece.ink.shape
    paths = cut_paths(upright, inner, max(1, int(REACH * height)))
    paths[int(cols[0])] = np.full(h, int(cols[0]))
    paths[int(cols[-1]) + 1] = np.full(h, int(cols[-1]) + 1)
    cuts = sorted(paths)
    lean = shear * (h - 1 - np.arange(h)) - offset  # a pixel at column x of row y lands at x - lean[y]
    landing = np.arange(w)[None, :] - lean[:, None]
    total = float(piece.ink.sum())
    out = []
    for a, b in _spans(cuts, height):
        # only the columns the span can reach are looked at
        lo = max(0, int(np.floor((paths[a] + lean).min())))
        hi = min(w, int(np.ceil((paths[b] + lean).max())) + 1)
        if hi <= lo:
            continue
        inside = (landing[:, lo:hi] >= paths[a][:, None]) & (landing[:, lo:hi] < paths[b][:, None])
        part = piece.ink[:, lo:hi] * inside
        if part.sum() >= 0.02 * total and part.max() > 0:
            out.append(((a, b), part, lo))
    return out


def _best_path(cuts: list[int], score: dict[tuple[int, int], float]) -> tuple[float, list[tuple[int, int]]] | None:
    """The path of spans from the first cut to the last with the highest total score (and at
    least two spans), by dynamic programming over the cuts left to right."""
    best = {cuts[0]: (0.0, None, 0)}  # cut -> (score, previous cut, digits) of the best path there
    for c in cuts[1:]:
        options = [(best[a][0] + score[(a, c)], a, best[a][2] + 1)
                   for a in cuts if a in best and (a, c) in score and best[a][2] < MAX_DIGITS]
        if options:
            best[c] = max(options)
    end = cuts[-1]
    if end not in best or best[end][2] < 2:
        return None
    path, c = [], end
    while best[c][1] is not None:
        path.append((best[c][1], c))
        c = best[c][1]
    return best[end][0], path[::-1]


def split_piece(piece: Piece, classify: Callable[[np.ndarray], np.ndarray],
                shears: tuple[float, ...] = SHEARS) -> tuple[list[DigitGuess], float] | None:
    """The best reading of a stroke group as two or more digits, with its total score, or
    None when no split of it is possible. Each slant in `shears` is tried (cuts lean with the
    writing); the slant whose best split reads best wins. All spans of all slants are
    classified in one batch."""
    factor = min(1.0, WORK_HEIGHT / piece.ink.shape[0])  # cut at a working size: a big drawing costs no more
    small = piece if factor == 1.0 else Piece(_resize(piece.ink, factor), piece.box)
    spans = {shear: candidate_spans(small, shear) for shear in shears}
    inks = [part for found in spans.values() for _, part, _ in found]
    lefts = [left for found in spans.values() for _, _, left in found]
    if not inks:
        return None
    images = np.stack([to_mnist(part / part.max()) for part in inks])
    probs = classify(images)
    scores = _log(digit_scores(probs))
    winner, k = None, 0
    for shear, found in spans.items():
        index = {span: k + i for i, (span, _, _) in enumerate(found)}
        k += len(found)
        if not found:
            continue
        cuts = sorted({c for span in index for c in span})
        result = _best_path(cuts, {span: scores[i] for span, i in index.items()})
        if result is not None and (winner is None or result[0] > winner[0]):
            winner = (result[0], [index[span] for span in result[1]])
    if winner is None:
        return None
    guesses = [DigitGuess(Digit(images[i], span_box(inks[i], lefts[i], piece.box, factor)), probs[i]) for i in winner[1]]
    return guesses, float(winner[0])


def _log(score):
    return np.log(np.maximum(score, 1e-12))


def _resize(ink: np.ndarray, factor: float) -> np.ndarray:
    h, w = ink.shape
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return np.asarray(Image.fromarray(ink.astype(np.float32), mode="F").resize(size, Image.Resampling.BOX))


def span_box(part: np.ndarray, left: int, origin: tuple[int, int, int, int], factor: float) -> tuple[int, int, int, int]:
    """The box, in the input image, of a span's ink (`part`, from column `left` of the group's
    crop scaled by `factor`)."""
    ys, xs = np.nonzero(part > 0.25)
    if len(xs) == 0:
        ys, xs = np.nonzero(part > 0)
    xs = xs + left
    x0, x1 = int(xs.min() / factor), int(np.ceil((xs.max() + 1) / factor))
    y0, y1 = int(ys.min() / factor), int(np.ceil((ys.max() + 1) / factor))
    return (origin[0] + x0, origin[1] + y0, min(x1, origin[2]) - x0, min(y1, origin[3]) - y0)


def read_digits(pieces: list[Piece], classify: Callable[[np.ndarray], np.ndarray], threshold: float,
                split: bool = True, read_lines: Callable[[list[Piece]], list] | None = None,
                judge: Callable[[list[Piece]], list[str]] | None = None) -> list[DigitGuess]:
    """The digits of a picture's stroke groups, left to right: each group as one digit, or as
    several where it is wide or doubtful and a split reads better (unless `split` is false).

    With `judge` (a group judge's `decide`: group_judge.py), the judge makes the one decision
    per group instead: a group it judges one digit is read whole, never split, however wide;
    one it judges several may be split, however narrow (`_judged_groups`); one it judges not a
    digit is read whole and marked so (`not_a_digit`): the reading is rejected.

    With `read_lines` (a line reader's `read`: line_reader.py), every group is also read
    whole by it. Its reading of one digit keeps the group one digit, with the mean of the
    two networks' probabilities (judged "not a digit" on the classifier's score alone). Its
    reading of two or more digits is taken for a wide or doubtful group when it is surer
    of that reading (its path probability) than the classifier is of the group as one
    digit. Where it settles neither, a wide or doubtful group is split here, as without it.
    (Each choice was measured on validation numbers and digits: docs/numbers.md.)"""
    if not pieces:
        return []
    whole = np.stack([to_mnist(p.ink) for p in pieces])
    probs = classify(whole)
    scores = digit_scores(probs)  # the "not a digit" score the threshold is set on
    if judge is not None and split:
        return _judged_groups(pieces, whole, probs, scores, judge(pieces), classify, threshold,
                              read_lines)[:MAX_DIGITS]
    asked = [i for i, (p, score) in enumerate(zip(pieces, scores)) if split and _may_split(p, score, threshold)]
    lines = dict(enumerate(read_lines(pieces))) if read_lines and split else {}
    out: list[DigitGuess] = []
    for i, (piece, image, p, score) in enumerate(zip(pieces, whole, probs, scores)):
        one = [DigitGuess(Digit(image, piece.box), p)]
        line = lines.get(i)
        if line is not None and len(line.digits) > 1 and i in asked and line.confidence > score:
            one = _judged(line.digits, classify)
        elif line is not None and len(line.digits) == 1:  # one digit, read by both: their mean, judged as before
            one = [DigitGuess(one[0].digit, (p + line.digits[0].probs) / 2, float(score))]
        elif i in asked:
            one = _split_or_not(piece, one, score, classify, threshold)
        out.extend(one)
    return out[:MAX_DIGITS]


def _judged_groups(pieces: list[Piece], whole: np.ndarray, probs: np.ndarray, scores: np.ndarray,
                   decided: list[str], classify: Callable[[np.ndarray], np.ndarray], threshold: float,
                   read_lines: Callable[[list[Piece]], list] | None) -> list[DigitGuess]:
    """Each group read as the judge decided. One digit: read whole. Not a digit: read whole,
    marked. Several: read by the line reader where it reads several, else split where the
    split reads better than one digit (`_split_or_not`, whatever the group's width). (Splitting
    every group judged several, without that test, split 1.7% of other writers' single digits
    and lost 5 points of apart numbers: docs/writers.md.)"""
    several = [i for i, d in enumerate(decided) if d == "several"]
    lines = dict(zip(several, read_lines([pieces[i] for i in several]))) if read_lines and several else {}
    out: list[DigitGuess] = []
    for i, (piece, image, p, decision) in enumerate(zip(pieces, whole, probs, decided)):
        one = [DigitGuess(Digit(image, piece.box), p, not_a_digit=decision == "not")]
        if decision == "several":
            line = lines.get(i)
            if line is not None and len(line.digits) > 1:
                one = _judged(line.digits, classify)
            else:
                one = _split_or_not(piece, one, scores[i], classify, threshold)
        out.extend(one)
    return out


def _judged(guesses: list[DigitGuess], classify: Callable[[np.ndarray], np.ndarray]) -> list[DigitGuess]:
    """The line reader's digits, each with the classifier's digit score on its picture: whether
    a shape is a digit is always the classifier's call (the line reader reads many a letter
    or scribble as some digit; docs/numbers.md)."""
    judged = digit_scores(classify(np.stack([r.digit.image for r in guesses])))
    return [DigitGuess(r.digit, r.probs, float(s)) for r, s in zip(guesses, judged)]


def _may_split(piece: Piece, score: float, threshold: float) -> bool:
    x, y, w, h = piece.box
    return w > WIDE * h or score < threshold


def _split_or_not(piece: Piece, one: list[DigitGuess], score: float, classify, threshold: float) -> list[DigitGuess]:
    """The group split by recognition, when that reads better and every digit of it is a digit."""
    parts = split_piece(piece, classify)
    x, y, w, h = piece.box
    margin = SPLIT_MARGIN if w > WIDE * h else NARROW_MARGIN
    if (parts is not None and parts[1] > _log(score) + margin
            and (digit_scores(np.stack([r.probs for r in parts[0]])) >= threshold).all()):
        return parts[0]
    return one
