"""Fine-tuning on a "personal" handwriting: does `digitlab finetune` learn it without
forgetting MNIST?

Writes N samples of data/personal_style.py's style (MNIST training digits turned a
quarter to the left) into a fresh SQLite store under --work, then runs `digitlab
finetune CKPT --store ... --out WORK/finetuned`, which prints MNIST validation accuracy (the
checkpoint's own validation images; the test set is for `digitlab evaluate`) and
held-out-sample accuracy before and after. docs/samples.md has the figures.

    python benchmarks/finetune_personal.py --model runs/default/best --samples 200 --work /tmp/personal
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
from pathlib import Path

from PIL import Image

from digitlab.cli import main as digitlab
from digitlab.data.personal_style import personal_digits
from digitlab.store import Sample, open_store


def write_personal_store(location: str | Path, n: int, seed: int = 0) -> None:
    images, labels = personal_digits(n, seed)
    with open_store(location) as store:
        for pixels, label in zip(images, labels):
            drawing = io.BytesIO()
            Image.fromarray(255 - pixels).resize((140, 140)).save(drawing, format="PNG")
            store.add(Sample(label=int(label), drawing=drawing.getvalue(), pixels=pixels))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="runs/default/best", help="checkpoint to fine-tune (read only)")
    p.add_argument("--samples", type=int, default=200, help="samples of the personal style (default 200)")
    p.add_argument("--work", default="/tmp/digitlab-personal", help="where the store and the result go (replaced)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_known_args(argv)


if __name__ == "__main__":
    args, rest = parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    write_personal_store(work / "samples.db", args.samples, args.seed)
    sys.exit(digitlab(["finetune", args.model, "--store", str(work / "samples.db"), "--out", str(work / "finetuned"),
                       "--seed", str(args.seed), *rest]))
