"""`digitlab train-lines`: the line reader that reads touching digits whole (lines/)."""

from __future__ import annotations

from .common import add_command, add_companion_options, add_quiet_option, check_counts, companion_out


def cmd_train_lines(args) -> int:
    from ..recognition.line_reader import LINES_DIR
    from ..training.lines import LinesConfig, train_line_reader

    out = companion_out(args, LINES_DIR, "the line reader")
    check_counts(args, ("numbers", "epochs", "val_numbers"))
    check_counts(args, ("negatives",), least=0)
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
    add_companion_options(p, "lines", "numbers")
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
