"""What keeping freed memory in the process (`digitlab.allocator`) does to training speed.

For each recipe, trains one epoch on a subset of the training split (validation not
timed) in a fresh process with glibc's malloc defaults, then in a fresh process with the
setting that `digitlab.training.train` turns on for CPU training; the pairs are repeated
and interleaved, so slow stretches of a shared machine hit both alike. Prints images/s
(medians) and the page faults of each side's epoch.

    python benchmarks/keep_memory.py [--recipes default best report-cnn-final] [--images 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys


def child(name: str, keep: bool, images: int) -> None:
    """One epoch of `name` in this process; prints its images/s and page faults as JSON."""
    from digitlab.allocator import keep_freed_memory
    from digitlab.training import Trainer, recipe

    if keep:
        assert keep_freed_memory(), "this C library has no mallopt"
    trainer = Trainer(recipe(name, subset=images, epochs=1), None, device="cpu", progress=False,
                      log=lambda s: None)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    record = trainer.fit().history[0]
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults  # validation's included, a small part
    print(json.dumps({"images_per_s": record["samples_per_second"], "faults": faults}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipes", nargs="+", default=["default", "best", "report-cnn-final"])
    parser.add_argument("--images", type=int, default=10000, help="training images in the timed epoch")
    parser.add_argument("--repeats", type=int, default=3, help="plain/kept pairs per recipe (default 3)")
    parser.add_argument("--child", nargs=2, metavar=("RECIPE", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1] == "keep", args.images)
        return
    print(f"{args.images} images, one epoch per process, {args.repeats} plain/kept pair(s) per recipe, medians")
    for name in args.recipes:
        runs: dict[str, list[dict]] = {"plain": [], "keep": []}
        for _ in range(args.repeats):
            for mode in runs:
                out = subprocess.run([sys.executable, __file__, "--child", name, mode, "--images", str(args.images)],
                                     capture_output=True, text=True, check=True).stdout
                runs[mode].append(json.loads(out.strip().splitlines()[-1]))
        plain, keep = ([r["images_per_s"] for r in runs[m]] for m in ("plain", "keep"))
        p, k = statistics.median(plain), statistics.median(keep)
        faults = {m: statistics.median(r["faults"] for r in runs[m]) for m in runs}
        print(f"{name:<17} plain {p:6.0f}/s  kept {k:6.0f}/s  {k / p - 1:+.0%}  page faults per epoch "
              f"{faults['plain']:.0f} -> {faults['keep']:.0f}  (plain {', '.join(f'{v:.0f}' for v in plain)}; "
              f"kept {', '.join(f'{v:.0f}' for v in keep)})")


if __name__ == "__main__":
    main()
