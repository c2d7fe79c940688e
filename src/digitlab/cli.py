"""`digitlab <command>`: a thin layer that parses arguments, calls the modules and prints."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .errors import DigitlabError


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2))


# --- data -----------------------------------------------------------------------------------


def cmd_data(args) -> int:
    from .data import mnist

    if args.action == "fetch":
        where = mnist.fetch()
        print(f"MNIST ready in {where}")
    elif args.action == "verify":
        problems = mnist.verify()
        if problems:
            raise DigitlabError("MNIST verification failed: " + "; ".join(problems))
        for key in mnist.FILES:
            print(f"ok  {mnist.FILES[key]:<26} sha256 {mnist.SHA256[key]}")
        print(f"ok  class counts train {mnist.CLASS_COUNTS['train']}")
        print(f"ok  class counts test  {mnist.CLASS_COUNTS['test']}")
        print(f"MNIST in {mnist.cache_dir()} verified")
    else:
        info = mnist.info()
        if args.json:
            _print_json(info)
            return 0
        print(f"location: {info['location']}")
        for split in ("train", "test"):
            s = info[split]
            print(f"{split:>5}: images {tuple(s['images'])}  labels {tuple(s['labels'])}  "
                  f"pixel mean {s['pixel_mean']:.4f} std {s['pixel_std']:.4f}")
            print(f"       class counts {s['class_counts']}")
    return 0


# --- models ---------------------------------------------------------------------------------


def cmd_models(args) -> int:
    from .models import format_summary, list_presets, resolve_model, summarize

    if args.name is None:
        presets = list_presets()
        if args.json:
            _print_json([{**p.to_json(), "description": p.description,
                          "total_params": summarize(p)["total_params"]} for p in presets])
            return 0
        for p in presets:
            print(f"{p.name:<18} {summarize(p)['total_params']:>9,} params  {p.description}")
        print("\nany spec string works too, e.g. `digitlab models 32C5-AP2-F-20-R-10-SM`")
        return 0
    summary = summarize(resolve_model(args.name))
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0


# --- train ----------------------------------------------------------------------------------

_AUG_FLAGS = ("rotation", "width_shift", "height_shift", "shear", "zoom")


def _train_config(args):
    from dataclasses import replace

    from .training.config import REPORT_AUGMENT, recipe

    cfg = recipe(args.recipe, model=args.model, optimizer=args.optimizer, lr=args.lr, schedule=args.schedule,
                 loss=args.loss, batch_size=args.batch_size, epochs=args.epochs, val_size=args.val_size,
                 subset=args.subset, seed=args.seed, precision=args.precision)
    overrides = {k: getattr(args, f"aug_{k}") for k in _AUG_FLAGS if getattr(args, f"aug_{k}") is not None}
    if args.augment is False:
        if overrides:
            raise DigitlabError("--no-augment cannot be combined with --aug-* settings")
        return replace(cfg, augment=None)
    if args.augment:
        base = REPORT_AUGMENT
    elif overrides:
        base = cfg.augment or REPORT_AUGMENT
    else:
        return cfg
    return replace(cfg, augment=replace(base, **overrides))


def cmd_train(args) -> int:
    from .training.checkpoint import read_meta
    from .training.config import TrainConfig
    from .training.trainer import train

    if args.resume:
        out = Path(args.resume)
        meta = read_meta(out / "last")
        cfg = TrainConfig.from_json(meta["train_config"])
        print(f"resuming {out} after epoch {len(meta['history'])} of {cfg.epochs}")
    else:
        cfg = _train_config(args)
        out = Path(args.out or f"runs/{cfg.recipe if cfg.model == 'digitlab-cnn' else cfg.model.lower()}-"
                   f"{time.strftime('%Y%m%d-%H%M%S')}")
        if (out / "last").exists():
            raise DigitlabError(f"{out} already holds a run; use --resume {out} or choose another --out")
        print(f"training {cfg.describe()} -> {out}")
    try:
        result = train(cfg, out, resume=bool(args.resume), device=args.device, progress=not args.quiet)
    except KeyboardInterrupt:
        print(f"\ninterrupted; continue with: digitlab train --resume {out}", file=sys.stderr)
        return 130
    print(f"best checkpoint: {result.best} (epoch {result.best_epoch}, "
          f"val accuracy {result.best_val_accuracy:.4f})")
    print(f"last checkpoint: {result.last}")
    print(f"history: {out / 'history.json'}")
    return 0


# --- evaluate -------------------------------------------------------------------------------


def cmd_evaluate(args) -> int:
    t0 = time.perf_counter()
    if args.report:
        from .evaluation.report import check_report_dir, evaluate, report_text, write_report

        check_report_dir(args.report)  # refuse a bad target before the work, not after
        evaluation = evaluate(args.checkpoint, device=args.device, robustness_images=args.robustness_images)
        metrics = {k: evaluation.metrics[k] for k in ("accuracy", "loss", "n")}
        if not args.json:
            print(report_text(evaluation))
        write_report(evaluation, args.report)
    else:
        from .evaluation import evaluate_checkpoint

        metrics = evaluate_checkpoint(args.checkpoint, device=args.device)
    if args.json:
        _print_json(metrics)
        return 0
    print(f"test accuracy {metrics['accuracy']:.4f}  loss {metrics['loss']:.4f}  "
          f"({metrics['n']} images, {time.perf_counter() - t0:.1f}s)  checkpoint {args.checkpoint}")
    if args.report:
        print(f"report: {Path(args.report) / 'report.html'} (metrics.json and the figures beside it)")
    return 0


def cmd_compare(args) -> int:
    from .evaluation.compare import compare, format_comparison

    rows = compare(args.checkpoints, args.out, device=args.device, robustness_images=args.robustness_images)
    print(format_comparison(rows))
    print(f"written: {Path(args.out) / 'compare.json'}, {Path(args.out) / 'training_curves.png'}")
    return 0


# --- parser ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from .data.augment import AugmentConfig
    from .device import PRECISIONS
    from .evaluation.robustness import ROBUSTNESS_IMAGES
    from .training.config import RECIPES
    from .training.registry import LOSSES, OPTIMIZERS, SCHEDULES

    parser = argparse.ArgumentParser(prog="digitlab", description="Recognize handwritten digits with neural networks.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("data", help="fetch, verify or describe MNIST",
                       description="MNIST lives in $DIGITLAB_DATA/mnist (default ~/.cache/digitlab/mnist).")
    p.add_argument("action", choices=["fetch", "verify", "info"],
                   help="fetch: get and cache the verified IDX files; verify: check SHA-256s and class counts; "
                        "info: shapes, class counts, pixel statistics")
    p.add_argument("--json", action="store_true", help="info as JSON")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("models", help="list presets or summarize a model")
    p.add_argument("name", nargs="?", help="preset name or spec string (omit to list presets)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("train", help="train a model; writes checkpoints and history",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Start from --recipe and override any of its settings. Writes OUT/best "
                                   "(best validation accuracy),\nOUT/last (resumable) and OUT/history.json.",
                       epilog="recipes:\n" + "\n".join(f"  {name:<18}{cfg.describe()}" for name, cfg in RECIPES.items()))
    p.add_argument("--recipe", default="default", choices=list(RECIPES), help="base settings (default: default; see the list below)")
    p.add_argument("--model", help="preset name or spec string (default: the recipe's)")
    p.add_argument("--optimizer", choices=list(OPTIMIZERS), help="default: the recipe's")
    p.add_argument("--lr", type=float, help="peak learning rate (default: the recipe's, else the optimizer's)")
    p.add_argument("--schedule", choices=list(SCHEDULES), help="learning-rate schedule (default: the recipe's)")
    p.add_argument("--loss", choices=list(LOSSES), help="default: sparse_categorical_crossentropy")
    p.add_argument("--batch-size", type=int, help="default: the recipe's")
    p.add_argument("--epochs", type=int, help="default: the recipe's")
    aug = p.add_mutually_exclusive_group()
    aug.add_argument("--augment", action="store_true", default=None,
                     help="random affine augmentation with the report's settings (below) unless overridden")
    aug.add_argument("--no-augment", dest="augment", action="store_false", help="turn augmentation off "
                     "(default: the recipe's setting)")
    defaults = AugmentConfig()
    for k, unit in zip(_AUG_FLAGS, ("degrees", "fraction of width", "fraction of height", "degrees",
                                    "scale 1 +/- this")):
        p.add_argument(f"--aug-{k.replace('_', '-')}", dest=f"aug_{k}", type=float, metavar="X",
                       help=f"{unit} (report: {getattr(defaults, k)})")
    p.add_argument("--val-size", type=int, help="validation images held out of the 60k (default 5000)")
    p.add_argument("--subset", type=int, help="train on this many images only, for quick runs")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--precision", choices=PRECISIONS, help="auto (the default): bf16 where the hardware computes it natively, else fp32")
    p.add_argument("--device", help="cpu or cuda[:N] (default: cuda when present)")
    p.add_argument("--out", help="output directory (default runs/NAME-TIMESTAMP)")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its last completed epoch")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="test-set accuracy and loss of a checkpoint; --report for the full report",
                       description="Test-set accuracy and loss of a checkpoint. With --report DIR: also the "
                                   "classification report, confusion matrix, ROC and precision-recall curves, "
                                   "training curves, the most confident mistakes, calibration and robustness, "
                                   "as PNG files, metrics.json and one self-contained DIR/report.html.")
    p.add_argument("checkpoint", help="checkpoint directory (e.g. runs/default/best)")
    p.add_argument("--report", metavar="DIR", help="write the evaluation report into DIR (new, empty, or an "
                                                    "earlier report, which is replaced)")
    p.add_argument("--robustness-images", type=int, default=ROBUSTNESS_IMAGES, metavar="N",
                   help=f"test images (stratified) transformed for the robustness table (default "
                        f"{ROBUSTNESS_IMAGES}; 10000 for all)")
    p.add_argument("--json", action="store_true", help='print {"accuracy", "loss", "n"}')
    p.add_argument("--device", help="cpu or cuda[:N]")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("compare", help="several checkpoints side by side",
                       description="Accuracy, loss, calibration error, parameters and robustness of several "
                                   "checkpoints in one table; their training curves overlaid in one figure.")
    p.add_argument("checkpoints", nargs="+", metavar="CKPT", help="two or more checkpoint directories")
    p.add_argument("--out", default="runs/compare", help="directory for compare.json and training_curves.png "
                                                         "(default runs/compare)")
    p.add_argument("--robustness-images", type=int, default=ROBUSTNESS_IMAGES, metavar="N",
                   help=f"test images transformed for the robustness columns (default {ROBUSTNESS_IMAGES})")
    p.add_argument("--device", help="cpu or cuda[:N]")
    p.set_defaults(func=cmd_compare)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except DigitlabError as e:
        print(f"digitlab: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
