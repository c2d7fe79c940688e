"""The line reader's network: what it computes, and the spec its checkpoint records.

A stack of 3x3 convolutions (batch norm, ReLU) halves the height and width twice and the
height once more, leaving a column of features every STRIDE input columns; three 1-D
convolutions along the width (dilated 1, 2, 4: each frame sees about two digits' width
around it) give every frame a distribution over blank and the ten digits. It is trained with
CTC (training/lines.py) and read by recognition/line_reader.py; this module knows
neither.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

BLANK = 0  # class 0 is CTC's blank; digit d is class d + 1
CLASSES = 11
STRIDE = 4  # input columns per frame
HEIGHT = 32  # rows the network sees (recognition/line_reader.py scales a group's ink to them)
KIND = "line-reader"  # the checkpoint's model kind (runs/checkpoint.py)


@dataclass(frozen=True)
class LineNetSpec:
    """Everything needed to rebuild a line reader's network, recorded in its checkpoint."""

    width: int = 64  # channels of the middle layers
    height: int = HEIGHT
    stride: int = STRIDE
    name: str = KIND

    def build(self) -> "LineNet":
        return LineNet(self.width, self.height)

    def to_json(self) -> dict:
        return {"name": self.name, "kind": KIND, "width": self.width, "height": self.height, "stride": self.stride}


def _conv(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class LineNet(nn.Module):
    def __init__(self, width: int = 64, height: int = HEIGHT):
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


