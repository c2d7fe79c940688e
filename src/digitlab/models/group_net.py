"""The group judge's network: one stroke group, seen whole, as one digit, several digits or
not a digit.

The input is the group's ink scaled to INK_HEIGHT rows keeping its aspect ratio (squeezed
when wider than the input) and centred on a HEIGHT x WIDTH canvas, so a wide group looks
wide. Four 3x3 convolution blocks (batch norm, ReLU) halve it to 4 x 12, an average pool to
2 x 6 keeps where the ink lies, and two linear layers give the three scores. It is trained
by training/groups.py and read by recognition/group_judge.py; this module knows neither.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

HEIGHT, WIDTH = 32, 96  # the input canvas (recognition/group_judge.py draws a group on it)
CLASSES = ("one digit", "several digits", "not a digit")
ONE, SEVERAL, NOT = 0, 1, 2
KIND = "group-judge"  # the checkpoint's model kind (runs/checkpoint.py)


@dataclass(frozen=True)
class GroupNetSpec:
    """Everything needed to rebuild a group judge's network, recorded in its checkpoint."""

    width: int = 16  # channels of the first layer (doubled twice)
    height: int = HEIGHT
    input_width: int = WIDTH
    name: str = KIND

    def build(self) -> "GroupNet":
        return GroupNet(self.width)

    def to_json(self) -> dict:
        return {"name": self.name, "kind": KIND, "width": self.width, "height": self.height,
                "input_width": self.input_width}


def _block(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class GroupNet(nn.Module):
    def __init__(self, width: int = 16):
        super().__init__()
        c1, c2, c3 = width, 2 * width, 4 * width
        self.features = nn.Sequential(
            *_block(1, c1), nn.MaxPool2d(2),
            *_block(c1, c2), nn.MaxPool2d(2),
            *_block(c2, c3), nn.MaxPool2d(2),
            *_block(c3, c3), nn.AdaptiveAvgPool2d((2, 6)),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c3 * 12, 128), nn.ReLU(inplace=True), nn.Dropout(0.2),
                                  nn.Linear(128, len(CLASSES)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x 1 x HEIGHT x WIDTH (ink 0..1) -> logits N x 3."""
        return self.head(self.features(x)).float()
