"""Optimizers named like Keras' make Keras' updates: the formulas of Keras 3 written out
here (keras/src/optimizers/nadam.py and rmsprop.py), no TensorFlow needed."""

import numpy as np
import torch

from digitlab.training.registry import make_optimizer

STEPS = 50


def gradients(scale: float) -> np.ndarray:
    """Fixed gradients for 50 steps of a 64-parameter tensor, some of them tiny."""
    rng = np.random.default_rng(0)
    return rng.normal(0, 1, (STEPS, 64)) * scale * rng.choice([1.0, 1e-3], (STEPS, 64))


def run_torch(name: str, grads: np.ndarray, lr: float) -> np.ndarray:
    w = torch.zeros(grads.shape[1], dtype=torch.float64, requires_grad=True)
    opt = make_optimizer(name, [w], lr)
    for g in grads:
        w.grad = torch.from_numpy(g.copy())
        opt.step()
    return w.detach().numpy()


def keras_nadam(grads: np.ndarray, lr: float, beta_1=0.9, beta_2=0.999, epsilon=1e-7) -> np.ndarray:
    w = np.zeros(grads.shape[1])
    m, v, u_product = np.zeros_like(w), np.zeros_like(w), 1.0
    for t, g in enumerate(grads):
        local_step, next_step = t + 1, t + 2
        u_t = beta_1 * (1 - 0.5 * 0.96 ** local_step)
        u_t_1 = beta_1 * (1 - 0.5 * 0.96 ** next_step)
        u_product *= u_t
        m += (g - m) * (1 - beta_1)
        v += (g * g - v) * (1 - beta_2)
        m_hat = u_t_1 * m / (1 - u_product * u_t_1) + (1 - u_t) * g / (1 - u_product)
        v_hat = v / (1 - beta_2 ** local_step)
        w -= lr * m_hat / (np.sqrt(v_hat) + epsilon)
    return w


def keras_rmsprop(grads: np.ndarray, lr: float, rho=0.9, epsilon=1e-7) -> np.ndarray:
    w = np.zeros(grads.shape[1])
    velocity = np.zeros_like(w)
    for g in grads:
        velocity = rho * velocity + (1 - rho) * g * g
        w -= lr * g / np.sqrt(velocity + epsilon)
    return w


def test_nadam_is_keras_nadam():
    grads = gradients(1.0)
    ours, theirs = run_torch("nadam", grads, 1e-3), keras_nadam(grads, 1e-3)
    assert np.abs(ours - theirs).max() < 1e-6
    # PyTorch's own default momentum schedule is not Keras': the comparison can tell
    w = torch.zeros(64, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.NAdam([w], lr=1e-3, eps=1e-7)
    for g in grads:
        w.grad = torch.from_numpy(g.copy())
        opt.step()
    assert np.abs(w.detach().numpy() - theirs).max() > 1e-4


def test_rmsprop_is_keras_rmsprop_also_for_tiny_gradients():
    grads = gradients(1e-3)  # many below sqrt(epsilon) ~ 3e-4, where the two formulas part
    ours, theirs = run_torch("rmsprop", grads, 1e-3), keras_rmsprop(grads, 1e-3)
    assert np.abs(ours - theirs).max() < 1e-6
    w = torch.zeros(64, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.RMSprop([w], lr=1e-3, alpha=0.9, eps=1e-7)
    for g in grads:
        w.grad = torch.from_numpy(g.copy())
        opt.step()
    assert np.abs(w.detach().numpy() - theirs).max() > 1e-3


def test_keras_rmsprop_trains_and_follows_the_learning_rate_schedule():
    torch.manual_seed(0)
    x = torch.randn(256, 8)
    y = x @ torch.randn(8, 1)
    model = torch.nn.Linear(8, 1)
    opt = make_optimizer("rmsprop", model.parameters(), 3e-2)
    first = None
    for step in range(200):
        opt.param_groups[0]["lr"] = 3e-2 * (1 - step / 200)  # the trainer sets the rate like this
        loss = torch.nn.functional.mse_loss(model(x), y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05 * first
    assert set(opt.state_dict()["state"][0]) == {"velocity"}
