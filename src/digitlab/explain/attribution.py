"""Which pixels pushed the model toward its answer and which against it: integrated
gradients (Sundararajan et al. 2017, "Axiomatic attribution for deep networks"), by
Captum, the PyTorch project's interpretability library.

Why integrated gradients: it is exact in a way a reader can check. The pixel
attributions add up to the change in the target's log-probability between a blank
page and the drawing (completeness; the error of the numerical integral is reported),
and a pixel with no ink gets exactly zero, so the map never lights up empty paper.
Occlusion was the other candidate; it needs one forward pass per patch position and
its map blurs over the patch size, and it has no such sum to check against.

The target is the log-probability of the chosen digit (log-softmax), not its raw
score: a stroke that raises every digit's score alike does not make the answer more
likely, and here it gets no credit for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..models.build import DigitNet
from ..models.inference import eval_mode

METHOD = "integrated gradients"
STEPS = 32  # Gauss-Legendre points from the blank page: the sum is within 1% of the change for most digits


@dataclass
class Attribution:
    target: int  # the digit explained
    values: np.ndarray  # float32 28 x 28: each pixel's share of the change in log p(target)
    log_prob: float  # log p(target) for the drawing
    blank_log_prob: float  # ... and for a blank page (the baseline)
    completeness_error: float  # |sum(values) - (log_prob - blank_log_prob)|
    method: str = METHOD
    steps: int = STEPS


def integrated_gradients(model: DigitNet, image: np.ndarray, target: int, steps: int = STEPS) -> Attribution:
    """Attributions over the pixels of one uint8 28x28 image (ink high) for `target`."""
    from captum.attr import IntegratedGradients

    device = next(model.parameters()).device
    x = torch.as_tensor(image, dtype=torch.float32, device=device).reshape(1, 1, 28, 28)
    blank = torch.zeros_like(x)

    def log_probs(batch: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(model(batch).float(), 1)

    with eval_mode(model):
        values, delta = IntegratedGradients(log_probs).attribute(
            x, baselines=blank, target=target, n_steps=steps, method="gausslegendre",
            return_convergence_delta=True)
        with torch.no_grad():
            ends = log_probs(torch.cat([x, blank]))[:, target].tolist()
    return Attribution(target, values[0, 0].detach().cpu().numpy().astype(np.float32), ends[0], ends[1],
                       abs(float(delta)), METHOD, steps)
