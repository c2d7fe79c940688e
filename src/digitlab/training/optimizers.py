"""Optimizers that PyTorch has but computes differently from Keras, written to match Keras.

The report trained with Keras, and its optimizer studies compare optimizers by name, so
an optimizer here must make Keras' update, not a near relative of it.

`KerasRMSprop`: Keras divides by sqrt(velocity + epsilon); torch.optim.RMSprop divides by
sqrt(velocity) + epsilon. With Keras' epsilon of 1e-7 the two part ways for gradients
below about 3e-4 (sqrt(1e-7)): there PyTorch's step grows toward lr * g / 1e-7, up to
hundreds of times Keras' step. (Keras 3, keras/src/optimizers/rmsprop.py; no momentum,
not centred, as Keras' defaults.)

Nadam needs no class of its own: torch.optim.NAdam with momentum_decay=1.0 makes Keras'
momentum schedule beta_1 * (1 - 0.5 * 0.96^t) (registry.py).
"""

from __future__ import annotations

import torch


class KerasRMSprop(torch.optim.Optimizer):
    """RMSprop as Keras 3 computes it: v = rho * v + (1 - rho) * g^2, then
    w -= lr * g / sqrt(v + epsilon). One foreach kernel per operation over all parameters."""

    def __init__(self, params, lr: float = 1e-3, rho: float = 0.9, eps: float = 1e-7):
        if not lr > 0 or not 0 <= rho < 1 or not eps >= 0:
            raise ValueError(f"RMSprop needs lr > 0, 0 <= rho < 1, eps >= 0; got {lr}, {rho}, {eps}")
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            velocities = []
            for p in params:
                state = self.state[p]
                if "velocity" not in state:
                    state["velocity"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                velocities.append(state["velocity"])
            torch._foreach_mul_(velocities, group["rho"])
            torch._foreach_addcmul_(velocities, grads, grads, value=1 - group["rho"])
            denominators = torch._foreach_add(velocities, group["eps"])
            torch._foreach_sqrt_(denominators)
            torch._foreach_addcdiv_(params, grads, denominators, value=-group["lr"])
        return loss
