"""`digitlab train-lines`: the line reader that reads touching digits whole (lines/), and the
`--lines` option of the commands that read drawings."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import DigitlabError
from .common import add_command, add_quiet_option


def add_lines_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lines", default="auto", metavar="DIR",
                   help="line reader for digits that touch (default: the run's own, RUN/lines beside RUN/best, "
                        "where there is one; 'none' to read them by splitting alone)")


def lines_choice(args) -> str | None:
    """What `Predictor.load` takes for --lines: "auto", a directory, or None."""
    value = getattr(args, "lines", "auto")
    return None if value == "none" else value


def cmd_train_lines(args) -> int:
    from ..files import check_output_dir
    from ..recognition.line_reader import LINES_DIR
    from ..runs.checkpoint import read_meta
    from ..training.lines import LinesConfig, train_line_reader

    read_meta(args.model)  # a clear error before any work when the classifier is missing
    out = Path(args.out) if args.out else Path(args.model).parent / LINES_DIR
    check_output_dir(out, "the line reader", "model.json")
    for name in ("numbers", "negatives", "epochs", "val_numbers"):
        if getattr(args, name) < (0 if name == "negatives" else 1):
            raise DigitlabError(f"--{name.replace('_', '-')} {getattr(args, name)}: too few")
    cfg = LinesConfig(numbers=args.numbers, negatives=args.negatives, epochs=args.epochs, seed=args.seed,
                      val_numbers=args.val_numbers)
    reader = train_line_reader(args.model, out, cfg, device=args.device, progress=not args.quiet)
    print(f"wrote {reader.path}: validation groups read right {reader.meta['metrics']['val_group_accuracy']:.2%}")
    return 0


def register(sub) -> None:
    from ..training.lines import LinesConfig

    defaults = LinesConfig()
    p = add_command(sub, "train-lines",
                    description="Train a network that reads a group of touching or overlapping digits whole "
                                "(CTC over the width), on the stroke groups of numbers generated from the "
                                "classifier's training digits. predict, serve and evaluate use RUN/lines "
                                "beside RUN/best on their own.")
    p.add_argument("--model", default="runs/default/best",
                   help="the classifier it works with; its training digits make the numbers (default "
                        "runs/default/best)")
    p.add_argument("--out", help="directory to write (default: lines beside the classifier, e.g. runs/default/lines)")
    p.add_argument("--numbers", type=int, default=defaults.numbers, metavar="N",
                   help=f"generated training numbers of 2-6 digits (default {defaults.numbers})")
    p.add_argument("--negatives", type=int, default=defaults.negatives, metavar="N",
                   help=f"generated non-digits, to be read as nothing (default {defaults.negatives})")
    p.add_argument("--epochs", type=int, default=defaults.epochs, help=f"default {defaults.epochs}")
    p.add_argument("--val-numbers", type=int, default=defaults.val_numbers, metavar="N",
                   help=f"numbers made from the classifier's validation digits, read after each epoch "
                        f"(default {defaults.val_numbers})")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--device", help="cpu or cuda[:N]")
    add_quiet_option(p)
    p.set_defaults(func=cmd_train_lines)
