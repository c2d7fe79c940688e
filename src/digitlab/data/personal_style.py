"""A deliberately "personal" handwriting for fine-tuning checks: MNIST digits as written by
someone who holds the page turned a quarter to the left (each digit rotated 90 degrees
counter-clockwise). Every digit stays itself, yet a model trained on MNIST misreads most
of them; a few dozen corrections of this style should teach it without costing MNIST.
Made from MNIST *training* digits only, so the test set stays untouched."""

from __future__ import annotations

import numpy as np
import torch

from .mnist import load_mnist
from .splits import stratified_take


def personal_style(images: np.ndarray | torch.Tensor) -> np.ndarray:
    """uint8 N x 28 x 28 -> the same digits rotated a quarter turn counter-clockwise."""
    images = images.numpy() if torch.is_tensor(images) else np.asarray(images)
    return np.ascontiguousarray(np.rot90(images, 1, axes=(1, 2)))


def personal_digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`n` stratified MNIST training digits (seeded) in the personal style, and their labels."""
    data = load_mnist()
    chosen, _ = stratified_take(data.train_labels, n, seed)
    chosen = torch.as_tensor(chosen)
    return personal_style(data.train_images[chosen]), data.train_labels[chosen].numpy().astype(np.int64)
