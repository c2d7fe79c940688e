"""Training throughput of digitlab's trainer against a plain PyTorch loop, in one run.

The reference is what a PyTorch user writes first: TensorDataset + DataLoader
(shuffled, batch 256), float32 NCHW tensors, stock nn layers in the spec's order
(digitlab.bench.reference_model), Adam. Ours is
`digitlab.training.Trainer` on the same architecture (report-cnn-final), same batch
size, same optimizer, no augmentation in either. Each side trains on the same
subset for several epochs; the first epoch is warm-up and is not counted; the
figure is the median of the remaining epochs in images/second. The ratio is last.

    python benchmarks/train_speed.py [--images 12800] [--epochs 4]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

from digitlab.bench import reference_model
from digitlab.models import resolve_model
from digitlab.training import recipe
from digitlab.runs.split import make_split
from digitlab.training.trainer import Trainer


def reference_speed(x: torch.Tensor, y: torch.Tensor, epochs: int, batch_size: int) -> list[float]:
    torch.manual_seed(0)
    model = reference_model(resolve_model("report-cnn-final").spec)
    opt = torch.optim.Adam(model.parameters(), lr=0.01, eps=1e-7)
    loader = DataLoader(TensorDataset(x.float() / 255, y), batch_size=batch_size, shuffle=True)
    speeds = []
    for _ in range(epochs):
        model.train()
        t0 = time.perf_counter()
        for xb, yb in loader:
            loss = nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        speeds.append(len(y) / (time.perf_counter() - t0))
    return speeds


def digitlab_speed(images: int, epochs: int, batch_size: int, precision: str) -> list[float]:
    cfg = recipe("report-cnn-final", subset=images, epochs=epochs, batch_size=batch_size, augment=None,
                 precision=precision)
    with tempfile.TemporaryDirectory() as out:
        result = Trainer(cfg, out, progress=False, log=lambda s: None).fit()
    return [r["samples_per_second"] for r in result.history]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=12800, help="training images per epoch")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per side; the first is warm-up")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--precision", default="auto", help="digitlab's precision (auto, bf16, fp32)")
    args = parser.parse_args()

    split = make_split(recipe("report-cnn-final", subset=args.images), torch.device("cpu"))
    print(f"report-cnn-final, {args.images} images/epoch, batch {args.batch_size}, {args.epochs} epochs "
          f"(first is warm-up), {torch.get_num_threads()} threads")
    ref = reference_speed(split.x_train, split.y_train, args.epochs, args.batch_size)
    print(f"reference (DataLoader, fp32, NCHW): {statistics.median(ref[1:]):8.0f} img/s  "
          f"epochs {[round(s) for s in ref]}")
    ours = digitlab_speed(args.images, args.epochs, args.batch_size, args.precision)
    print(f"digitlab trainer ({args.precision}):          {statistics.median(ours[1:]):8.0f} img/s  "
          f"epochs {[round(s) for s in ours]}")
    print(f"ratio {statistics.median(ours[1:]) / statistics.median(ref[1:]):.2f}")


if __name__ == "__main__":
    main()
