"""`digitlab train`: one run or an ensemble, from a recipe with any setting overridden; the
training options shared with cv, search and lr-find."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..errors import DigitlabError
from .common import add_command, add_quiet_option


# --- train ----------------------------------------------------------------------------------

_AUG_FLAGS = ("rotation", "width_shift", "height_shift", "shear", "zoom")


def train_config(args, name: str | None = None):
    from dataclasses import replace

    from ..training.config import REPORT_AUGMENT, recipe

    cfg = recipe(name or args.recipe, model=args.model, optimizer=args.optimizer, lr=args.lr,
                 schedule=args.schedule, loss=args.loss, label_smoothing=args.label_smoothing,
                 batch_size=args.batch_size, epochs=args.epochs,
                 val_size=args.val_size, subset=args.subset, seed=args.seed, precision=args.precision)
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


def _default_out(name: str) -> Path:
    return Path(f"runs/{name.lower()}-{time.strftime('%Y%m%d-%H%M%S')}")


def _train_ensemble(args) -> int:
    from ..runs.ensemble import is_ensemble, read_manifest
    from ..training.ensemble import ENSEMBLES, plan_ensemble, train_ensemble
    from ..training.trainer import train

    if args.resume:
        out = Path(args.resume)
        print(f"resuming ensemble {out} ({read_manifest(out)['name']})")
    else:
        ens = ENSEMBLES[args.recipe]
        members = ens.members if args.members is None else args.members
        if members < 1:
            raise DigitlabError(f"--members {members}: an ensemble needs at least one member")
        out = Path(args.out) if args.out else _default_out(args.recipe)
        if is_ensemble(out) or (out / "last").exists():
            raise DigitlabError(f"{out} already holds a run; use --resume {out} or choose another --out")
        cfg = train_config(args, ens.recipe)
        plan_ensemble(out, args.recipe, cfg, members, ens.tta)
        print(f"training ensemble {args.recipe}: {members} x {cfg.describe()}, test-time shifts "
              f"{'on' if ens.tta else 'off'} -> {out}")
    try:
        train_ensemble(out, lambda cfg, run, resume: train(cfg, run, resume=resume, device=args.device,
                                                             progress=not args.quiet))
    except KeyboardInterrupt:
        print(f"\ninterrupted; continue with: digitlab train --resume {out}", file=sys.stderr)
        return 130
    print(f"ensemble: {out} (read it with: digitlab evaluate {out})")
    return 0


def cmd_train(args) -> int:
    from ..runs.checkpoint import read_meta
    from ..runs.ensemble import is_ensemble
    from ..training.config import RECIPES, TrainConfig
    from ..training.ensemble import ENSEMBLES
    from ..training.trainer import train

    if (args.resume and is_ensemble(args.resume)) or (not args.resume and args.recipe in ENSEMBLES):
        return _train_ensemble(args)
    if args.members is not None:
        raise DigitlabError(f"--members is for ensemble recipes ({', '.join(ENSEMBLES)})")
    if args.resume:
        out = Path(args.resume)
        meta = read_meta(out / "last")
        cfg = TrainConfig.from_json(meta["train_config"])
        print(f"resuming {out} after epoch {len(meta['history'])} of {cfg.epochs}")
    else:
        cfg = train_config(args)
        out = Path(args.out) if args.out else _default_out(
            cfg.recipe if cfg.model == RECIPES[cfg.recipe].model else cfg.model)
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


def add_train_options(p: argparse.ArgumentParser, ensembles: bool = False) -> None:
    """The settings of one training run, shared by train, cv, search and lr-find; `train`
    also takes the ensemble recipes."""
    from ..data.augment import AugmentConfig
    from ..device import PRECISIONS
    from ..training.config import RECIPES
    from ..training.ensemble import ENSEMBLES
    from ..training.registry import LOSSES, OPTIMIZERS, SCHEDULES

    p.add_argument("--recipe", default="default", choices=list(RECIPES) + (list(ENSEMBLES) if ensembles else []),
                   help="base settings (default: default; see the list below)")
    if ensembles:
        p.add_argument("--members", type=int, metavar="N", help="models in an ensemble recipe (default: the "
                                                                "recipe's); member k trains with seed + k")
    p.add_argument("--model", help="preset name or spec string (default: the recipe's)")
    p.add_argument("--optimizer", choices=list(OPTIMIZERS), help="default: the recipe's")
    p.add_argument("--lr", type=float, help="peak learning rate (default: the recipe's, else the optimizer's)")
    p.add_argument("--schedule", choices=list(SCHEDULES), help="learning-rate schedule (default: the recipe's)")
    p.add_argument("--loss", choices=list(LOSSES), help="default: sparse_categorical_crossentropy")
    p.add_argument("--label-smoothing", type=float, metavar="S",
                   help="train against targets 1-S on the label and S/10 on every class (default: the recipe's)")
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


def register(sub) -> None:
    """Add this module's commands to the `digitlab` parser."""
    from ..training.config import RECIPES
    from ..training.ensemble import ENSEMBLES

    p = add_command(sub, "train",
                    formatter_class=argparse.RawDescriptionHelpFormatter,
                    description="Start from --recipe and override any of its settings. Writes OUT/best "
                                "(best validation accuracy),\nOUT/last (resumable) and OUT/history.json. An "
                                "ensemble recipe trains one such run per member\n(OUT/seed-K) and writes "
                                "OUT/ensemble.json, which evaluate reads.",
                    epilog="recipes:\n" + "\n".join(f"  {name:<18}{cfg.describe()}" for name, cfg in RECIPES.items())
                    + "\n" + "\n".join(f"  {name:<18}{ens.describe()}" for name, ens in ENSEMBLES.items()))
    add_train_options(p, ensembles=True)
    p.add_argument("--device", help="cpu or cuda[:N] (default: cuda when present)")
    p.add_argument("--out", help="output directory (default runs/NAME-TIMESTAMP)")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its last completed epoch")
    add_quiet_option(p)
    p.set_defaults(func=cmd_train)
