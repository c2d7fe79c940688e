"""What the command modules share."""

from __future__ import annotations

import argparse
import json

from . import COMMANDS


def print_json(obj) -> None:
    print(json.dumps(obj, indent=2))


def add_command(sub, name: str, **kwargs) -> argparse.ArgumentParser:
    """The parser of command `name`, with its line of `digitlab --help` from COMMANDS."""
    return sub.add_parser(name, help=COMMANDS[name].help, **kwargs)


def add_quiet_option(p: argparse.ArgumentParser) -> None:
    """--quiet, the one switch for progress bars on every long command."""
    p.add_argument("--quiet", action="store_true", help="no progress bars (the summary lines still print)")
