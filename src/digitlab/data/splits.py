"""Seeded, stratified splits of the 60k training images. The test set is never split."""

from __future__ import annotations

import torch


def stratified_take(labels: torch.Tensor, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of `n` items with the class proportions of `labels`, and of the rest.

    Per-class quotas use largest remainders so they sum to exactly `n`; which items
    fill a quota is decided by a permutation seeded with `seed`.
    """
    total = len(labels)
    if not 0 <= n <= total:
        raise ValueError(f"cannot take {n} of {total} items")
    labels = labels.long()
    counts = torch.bincount(labels, minlength=10).double()
    exact = counts * n / total
    quota = exact.floor().long()
    short = n - int(quota.sum())
    if short:
        quota[torch.argsort(exact - quota, descending=True, stable=True)[:short]] += 1
    order = torch.randperm(total, generator=torch.Generator().manual_seed(seed))
    taken = torch.zeros(total, dtype=torch.bool)
    for c in range(10):
        members = order[labels[order] == c]
        taken[members[: quota[c]]] = True
    picked = torch.nonzero(taken).flatten()
    rest = torch.nonzero(~taken).flatten()
    return picked, rest


def train_val_split(labels: torch.Tensor, val_size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, validation indices) of the training set."""
    val, train = stratified_take(labels, val_size, seed)
    return train, val


def kfold_split(labels: torch.Tensor, folds: int, fold: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, validation indices) where validation is fold `fold` of a stratified,
    seeded K-fold partition: every item lands in exactly one fold, each class spread evenly."""
    if not 2 <= folds <= len(labels) or not 0 <= fold < folds:
        raise ValueError(f"fold {fold} of {folds} is not a valid K-fold choice for {len(labels)} items")
    labels = labels.long()
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    fold_of = torch.empty(len(labels), dtype=torch.long)
    offset = 0
    for c in range(int(labels.max()) + 1):
        members = order[labels[order] == c]
        # continue the round-robin across classes so fold sizes differ by at most one
        fold_of[members] = (torch.arange(len(members)) + offset) % folds
        offset += len(members)
    val = torch.nonzero(fold_of == fold).flatten()
    train = torch.nonzero(fold_of != fold).flatten()
    return train, val
