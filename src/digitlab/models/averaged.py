"""Several models read as one: the mean of their class probabilities, over the image and,
with `tta`, its shifted views (inference.TTA_SHIFTS).

Its output is the log of that mean, so anything that takes a model's logits through a
softmax (the predictor, the "not a digit" calibration, evaluation, the ONNX export) gets
exactly the averaged probabilities back, and an ensemble needs no second code path.
"""

from __future__ import annotations

import torch

from .inference import TTA_SHIFTS, shift_images


class AveragedModel(torch.nn.Module):
    def __init__(self, members: list[torch.nn.Module], tta: bool = False):
        super().__init__()
        self.members = torch.nn.ModuleList(members)
        self.shifts = TTA_SHIFTS if tta else TTA_SHIFTS[:1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = 0
        for dx, dy in self.shifts:
            view = shift_images(x, dx, dy)
            for member in self.members:
                total = total + torch.softmax(member(view).float(), 1)
        return (total / (len(self.members) * len(self.shifts))).clamp_min(1e-12).log()
