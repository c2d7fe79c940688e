"""The line reader's network and the reading of its output.

A stack of 3x3 convolutions (batch norm, ReLU) halves the height and width twice and the
height once more, leaving a column of features every STRIDE input columns; three 1-D
convolutions along the width (dilated 1, 2, 4: each frame sees about two digits' width
around it) give every frame a distribution over blank and the ten digits. Trained with
CTC, the reading is the most likely label per frame with repeats merged and blanks
dropped (greedy decoding); each digit keeps the frames it came from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

BLANK = 0  # class 0 is CTC's blank; digit d is class d + 1
CLASSES = 11
STRIDE = 4  # input columns per frame


def _conv(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class LineNet(nn.Module):
    def __init__(self, width: int = 64, height: int = 32):
        super().__init__()
        c1, c2, c3 = width // 2, width, width * 3 // 2
        self.features = nn.Sequential(
            *_conv(1, c1), nn.MaxPool2d(2),
            *_conv(c1, c2), nn.MaxPool2d(2),
            *_conv(c2, c3), *_conv(c3, c3), nn.MaxPool2d((2, 1)),
        )
        rows = height // 8
        hidden = 2 * width
        self.frames = nn.Sequential(
            nn.Conv1d(c3 * rows, hidden, 3, padding=1, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
            nn.Conv1d(hidden, hidden, 3, padding=2, dilation=2, bias=False), nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv1d(hidden, hidden, 3, padding=4, dilation=4, bias=False), nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(0.1),
            nn.Conv1d(hidden, CLASSES, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x 1 x H x W (ink 0..1) -> log-probabilities N x CLASSES x W // STRIDE."""
        f = self.features(x)
        n, c, h, w = f.shape
        return torch.log_softmax(self.frames(f.reshape(n, c * h, w)).float(), 1)


@dataclass
class LineDigit:
    digit: int
    probs: np.ndarray  # the ten digit probabilities at the frame where the digit peaks
    frames: tuple[int, int]  # first and last frame (inclusive) labelled with it


def greedy_decode(log_probs: np.ndarray, frames: int) -> tuple[list[LineDigit], float]:
    """One line's reading from its CLASSES x T log-probabilities (the first `frames` valid):
    the best label per frame, repeats merged, blanks dropped; and the probability of that
    frame-by-frame path (the product of each frame's best probability), a confidence."""
    lp = log_probs[:, :frames]
    best = lp.argmax(0)
    confidence = float(np.exp(lp.max(0).sum()))
    digits: list[LineDigit] = []
    t = 0
    while t < frames:
        label = int(best[t])
        end = t
        while end + 1 < frames and best[end + 1] == label:
            end += 1
        if label != BLANK:
            peak = t + int(lp[label, t:end + 1].argmax())
            p = np.exp(lp[1:, peak].astype(np.float64))
            digits.append(LineDigit(label - 1, (p / p.sum()).astype(np.float32), (t, end)))
        t = end + 1
    return digits, confidence
