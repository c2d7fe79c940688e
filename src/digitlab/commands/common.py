"""What the command modules share."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import DigitlabError
from . import COMMANDS


def print_json(obj) -> None:
    print(json.dumps(obj, indent=2))


def add_command(sub, name: str, **kwargs) -> argparse.ArgumentParser:
    """The parser of command `name`, with its line of `digitlab --help` from COMMANDS."""
    return sub.add_parser(name, help=COMMANDS[name].help, **kwargs)


def add_quiet_option(p: argparse.ArgumentParser) -> None:
    """--quiet, the one switch for progress bars on every long command."""
    p.add_argument("--quiet", action="store_true", help="no progress bars (the summary lines still print)")


def add_companion_options(p: argparse.ArgumentParser, directory: str, made_of: str) -> None:
    """--model and --out of a command that trains a network to work beside a classifier (the
    line reader, the group judge), written to DIRECTORY beside it by default."""
    p.add_argument("--model", default="runs/default/best",
                   help=f"the classifier it works with; its training digits make the {made_of} (default "
                        "runs/default/best)")
    p.add_argument("--out", help=f"directory to write (default: {directory} beside the classifier, e.g. "
                                 f"runs/default/{directory})")


def companion_out(args, directory: str, what: str) -> Path:
    """Where such a network goes, checked before any work (the classifier exists, the target
    is a directory that may be written)."""
    from ..files import check_output_dir
    from ..runs.checkpoint import read_meta

    read_meta(args.model)
    out = Path(args.out) if args.out else Path(args.model).parent / directory
    check_output_dir(out, what, "model.json")
    return out


def check_counts(args, names: tuple[str, ...], least: int = 1) -> None:
    """Each of these count options is at least `least`."""
    for name in names:
        if getattr(args, name) < least:
            raise DigitlabError(f"--{name.replace('_', '-')} {getattr(args, name)}: too few")
