"""`digitlab train-groups`: the group judge that decides, for each stroke group, one digit,
several digits or not a digit (groups/)."""

from __future__ import annotations

from .common import add_command, add_companion_options, add_quiet_option, check_counts, companion_out


def cmd_train_groups(args) -> int:
    from ..recognition.group_judge import GROUPS_DIR
    from ..training.groups import GroupsConfig, train_group_judge

    out = companion_out(args, GROUPS_DIR, "the group judge")
    check_counts(args, ("ones", "several", "nots", "epochs", "val_groups"))
    cfg = GroupsConfig(ones=args.ones, several=args.several, nots=args.nots, epochs=args.epochs, seed=args.seed,
                       val_groups=args.val_groups)
    judge = train_group_judge(args.model, out, cfg, device=args.device, progress=not args.quiet)
    calibration = judge.meta["calibration"]
    print(f"wrote {judge.path}: validation groups judged right {judge.meta['metrics']['val_accuracy']:.2%}; "
          f"digit groups rejected {calibration['val_digits_rejected']:.2%}")
    return 0


def register(sub) -> None:
    from ..training.groups import GroupsConfig

    defaults = GroupsConfig()
    p = add_command(sub, "train-groups",
                    description="Train the network that sees each stroke group whole and decides: one digit (read "
                                "as it is, never split), several touching digits (split) or not a digit "
                                "(rejected). Trained on groups drawn from the classifier's training digits and "
                                "the non-digit generator; its not-a-digit threshold is calibrated on groups "
                                "from the validation digits. predict, serve and evaluate use RUN/groups beside "
                                "RUN/best on their own.")
    add_companion_options(p, "groups", "groups")
    p.add_argument("--ones", type=int, default=defaults.ones, metavar="N",
                   help=f"single digits, some wide, crossed or flagged (default {defaults.ones})")
    p.add_argument("--several", type=int, default=defaults.several, metavar="N",
                   help=f"groups of 2-4 touching or overlapping digits (default {defaults.several})")
    p.add_argument("--nots", type=int, default=defaults.nots, metavar="N",
                   help=f"generated non-digits: letters, letter strings, shapes, scribbles (default {defaults.nots})")
    p.add_argument("--epochs", type=int, default=defaults.epochs, help=f"default {defaults.epochs}")
    p.add_argument("--val-groups", type=int, default=defaults.val_groups, metavar="N",
                   help=f"validation groups of each class, for the threshold (default {defaults.val_groups})")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--device", help="cpu or cuda[:N]")
    add_quiet_option(p)
    p.set_defaults(func=cmd_train_groups)
