"""The `digitlab` commands, a module per group: each parses its arguments, calls the library
and prints. `cli.py` assembles the parser: the command asked for gets its full parser from
its module's `register`; every other command is only named, from the table below, so that
no command pays for importing the others (`digitlab --help` imports none of them)."""

from __future__ import annotations

from typing import NamedTuple


class Command(NamedTuple):
    module: str  # the module of this package whose `register` adds it
    help: str  # its line in `digitlab --help`


COMMANDS: dict[str, Command] = {  # in the order of `digitlab --help`
    "data": Command("data", "fetch, verify or describe MNIST"),
    "models": Command("data", "list presets or summarize a model"),
    "train": Command("train", "train a model (or an ensemble); writes checkpoints and history"),
    "train-lines": Command("lines", "train the line reader that reads touching digits whole"),
    "train-groups": Command("groups", "train the group judge: each stroke group one digit, several or not a digit"),
    "evaluate": Command("evaluate", "test-set accuracy and loss of a checkpoint; --report for the full report"),
    "compare": Command("evaluate", "several checkpoints side by side"),
    "study": Command("experiments", "the report's experiments: list, run, report"),
    "cv": Command("experiments", "k-fold cross-validation of one training setting"),
    "search": Command("experiments", "grid search with k-fold cross-validation"),
    "lr-find": Command("experiments", "learning-rate range test"),
    "predict": Command("predict", "read the digits or number in image files"),
    "serve": Command("serve", "the drawing page and the REST API"),
    "up": Command("up", "the page at once with a quick model; the full one trains behind it, swapped in live"),
    "train-run": Command("up", "train everything a run's reading needs (classifier, calibration, group judge)"),
    "export": Command("predict", "export a checkpoint to ONNX, checked against PyTorch"),
    "explain": Command("explain", "what each layer of the network saw in an image, and which strokes decided"),
    "samples": Command("samples", "the corrections collected by the page: stats, list, export"),
    "finetune": Command("samples", "train a checkpoint further on the collected samples, keeping MNIST"),
    "bench": Command("bench", "training and inference speed of this machine, as JSON"),
}
