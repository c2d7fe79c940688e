"""Cost of one training step (`Trainer.step`) of some recipes at their own batch size.

Prints CPU milliseconds and wall milliseconds per step, medians over repeats, for each
recipe (no augmentation; 5 warm-up steps, then enough steps for about 4,000 images).
Run with OMP_NUM_THREADS=1 to count one core's work: on a machine shared with other
work, one thread's CPU time moves far less than wall time. To compare two versions,
run it with each one's source first on PYTHONPATH.

    OMP_NUM_THREADS=1 python benchmarks/step_cost.py [--recipes report-ann report-cnn-first fast] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import torch

from digitlab.data import load_mnist
from digitlab.training import Trainer, recipe


def step_cost(name: str, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(CPU ms, wall ms) per step of recipe `name` on index slices of `x`."""
    cfg = replace(recipe(name, subset=20000), augment=None)
    trainer = Trainer(cfg, None, progress=False, log=lambda s: None)
    bs = cfg.batch_size
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    batches = [perm[(i * bs) % (len(y) - bs):][:bs] for i in range(5 + max(30, 4000 // bs))]
    for idx in batches[:5]:
        trainer.step(x[idx], y[idx], 1e-3)
    cpu, wall = time.process_time(), time.perf_counter()
    for idx in batches[5:]:
        trainer.step(x[idx], y[idx], 1e-3)
    steps = len(batches) - 5
    return (time.process_time() - cpu) / steps * 1e3, (time.perf_counter() - wall) / steps * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipes", nargs="+", default=["report-ann", "report-cnn-first", "fast"])
    parser.add_argument("--repeats", type=int, default=3, help="runs per recipe, interleaved (default 3)")
    args = parser.parse_args()
    data = load_mnist()
    x, y = data.train_images[:20000].unsqueeze(1), data.train_labels[:20000].long()
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in args.recipes}
    for _ in range(args.repeats):
        for name in args.recipes:
            runs[name].append(step_cost(name, x, y))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); medians of {args.repeats}")
    for name, costs in runs.items():
        cpu, wall = (statistics.median(c) for c in zip(*costs))
        print(f"{name:<17} batch {recipe(name).batch_size:3d}  {cpu:7.2f} ms CPU  {wall:7.2f} ms wall per step")


if __name__ == "__main__":
    main()
