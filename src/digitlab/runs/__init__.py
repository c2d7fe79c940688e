"""A run's files, below both training and reading: the one checkpoint format for every kind
of network (checkpoint.py), ensembles read as one model (ensemble.py), and the run's data
split rebuilt from the config a checkpoint records (split.py). Training writes through
this layer; predict, serve, evaluate, explain and finetune read through it."""

from .checkpoint import Checkpoint, load_checkpoint, read_meta, save_checkpoint
from .ensemble import is_ensemble, load_reader

__all__ = ["Checkpoint", "load_checkpoint", "read_meta", "save_checkpoint", "is_ensemble", "load_reader"]
