"""Reading a stroke group whole, with a trained group judge (models/group_net.py, trained by
training/groups.py): one digit, several digits whose ink touches, or not a digit.

This is the one decision per group that the reading path takes before any splitting
(segment.read_digits): a group judged one digit is read by the classifier as it is, never
cut into strokes that each pass as a 1; a group judged several is split; a group judged
not a digit is rejected as a whole. "Not a digit" is decided by a threshold on its score,
calibrated on validation digits and numbers (the judge's `model.json` records it); between
one and several, the likelier wins.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy import ndimage
from skimage.morphology import skeletonize

from ..device import autocast, pick_device, resolve_precision
from ..errors import DigitlabError
from ..models.group_net import CLASSES, HEIGHT, KIND, NOT, ONE, SEVERAL, WIDTH
from ..runs.checkpoint import Checkpoint, beside as companion, load_checkpoint
from .preprocess import Piece

GROUPS_DIR = "groups"  # a run's group judge: <run>/groups beside <run>/best
INK_HEIGHT = 24  # rows of ink in a group's input; the rest of HEIGHT is margin
PEN = 1.3  # the pen every group is drawn again with: a stroke about 2 * PEN + 1 pixels wide
DECISIONS = ("one", "several", "not")  # what `GroupJudge.decide` says of each group, by class


def restroke(x: np.ndarray) -> np.ndarray:
    """The same strokes drawn again with one pen: thinned to their skeleton, then every
    pixel inked by its distance to it (radius PEN, anti-aliased). What is left is the shape:
    neither the pen, the pressure nor the sharpness of the edges, which tell a font's
    rendering from a scanned hand, not a digit from a letter."""
    skeleton = skeletonize(x > 0.35)
    if not skeleton.any():
        return x
    distance = ndimage.distance_transform_edt(~skeleton)
    return np.clip(PEN + 0.5 - distance, 0, 1).astype(np.float32)


def group_input(ink: np.ndarray) -> np.ndarray:
    """A stroke group's ink (0..1, any size, some ink) -> float32 HEIGHT x WIDTH: its box scaled
    to INK_HEIGHT rows keeping the aspect ratio (scaled down further when that is wider than
    the canvas), centred, its peak at 1, then drawn again with one pen (`restroke`)."""
    rows, cols = np.nonzero(ink > 0)
    crop = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1].astype(np.float32)
    h, w = crop.shape
    factor = min(INK_HEIGHT / h, (WIDTH - 8) / w)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    small = np.asarray(Image.fromarray(crop, mode="F").resize(size, Image.Resampling.BILINEAR))
    out = np.zeros((HEIGHT, WIDTH), np.float32)
    top, left = (HEIGHT - size[1]) // 2, (WIDTH - size[0]) // 2
    out[top:top + size[1], left:left + size[0]] = np.clip(small / max(float(small.max()), 1e-6), 0, 1)
    return restroke(out)


def judge_groups(model: torch.nn.Module, inputs: np.ndarray, device: torch.device, precision: str,
                 batch: int = 512) -> np.ndarray:
    """Probabilities N x 3 (CLASSES) for group inputs N x HEIGHT x WIDTH."""
    model.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(inputs), batch):
            x = torch.from_numpy(np.ascontiguousarray(inputs[i:i + batch], np.float32)).unsqueeze(1).to(device)
            with autocast(device, precision):
                logits = model(x)
            out.append(torch.softmax(logits.float(), 1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, len(CLASSES)), np.float32)


def decisions(probs: np.ndarray, not_threshold: float) -> list[str]:
    """Each group's decision: "not" where its not-a-digit score reaches the threshold,
    else the likelier of one and several."""
    return ["not" if p[NOT] >= not_threshold else ("several" if p[SEVERAL] > p[ONE] else "one") for p in probs]


def load_group_judge(path: str | Path, device: str | torch.device = "cpu") -> Checkpoint:
    return load_checkpoint(path, device, kind=KIND)


class GroupJudge:
    def __init__(self, path: str | Path, device: str | torch.device | None = None):
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self.checkpoint = load_group_judge(path, self.device)
        self.precision = resolve_precision("auto", self.device)
        threshold = (self.checkpoint.meta.get("calibration") or {}).get("not_threshold")
        if not isinstance(threshold, (int, float)):
            raise DigitlabError(f"group judge {path} has no calibrated threshold (calibration.not_threshold in "
                                "model.json); train it again with `digitlab train-groups`")
        self.not_threshold = float(threshold)

    @property
    def path(self) -> Path:
        return self.checkpoint.path

    def probabilities(self, pieces: list[Piece]) -> np.ndarray:
        """Probabilities N x 3 (CLASSES) for stroke groups."""
        if not pieces:
            return np.zeros((0, len(CLASSES)), np.float32)
        return self.probabilities_of(np.stack([group_input(p.ink) for p in pieces]))

    def probabilities_of(self, inputs: np.ndarray) -> np.ndarray:
        """Probabilities N x 3 for group inputs already drawn (`group_input`)."""
        return judge_groups(self.checkpoint.model, inputs, self.device, self.precision)

    def decide(self, pieces: list[Piece]) -> list[str]:
        """Each stroke group's decision (DECISIONS), in one batch."""
        return decisions(self.probabilities(pieces), self.not_threshold)


def beside(checkpoint: str | Path) -> Path | None:
    """The group judge trained for a run's checkpoint (<run>/groups), if there is one."""
    return companion(checkpoint, GROUPS_DIR)
