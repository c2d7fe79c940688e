"""MNIST sources, IDX files, the cache, splits and batched augmentation."""

from .augment import AugmentConfig, augment_batch
from .mnist import MNIST, dataset_checksum, fetch, info, load_mnist, verify
from .splits import kfold_split, stratified_take, train_val_split

__all__ = [
    "AugmentConfig", "augment_batch", "MNIST", "dataset_checksum", "fetch", "info", "load_mnist",
    "verify", "kfold_split", "stratified_take", "train_val_split",
]
