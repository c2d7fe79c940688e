"""`digitlab <command>`: a thin layer that parses arguments, calls the modules and prints."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .errors import DigitlabError


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser for `argv`: the command it names gets its full parser (its module is
    imported); the others are listed by name and help line only. Without `argv`, every
    command's full parser."""
    from .commands import COMMANDS

    if argv is None:
        wanted = {c.module for c in COMMANDS.values()}
    else:
        asked = next((a for a in argv if not a.startswith("-")), None)
        wanted = {COMMANDS[asked].module} if asked in COMMANDS else set()
    parser = argparse.ArgumentParser(prog="digitlab", description="Recognize handwritten digits with neural networks.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    registered: set[str] = set()
    for name, command in COMMANDS.items():
        if command.module not in wanted:
            sub.add_parser(name, help=command.help, add_help=False)
        elif command.module not in registered:  # its module's `register` adds all of its commands
            registered.add(command.module)
            importlib.import_module(f".commands.{command.module}", __package__).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    return _run(sys.argv[1:] if argv is None else argv)[0]


def program() -> None:
    """The `digitlab` program (and `python -m digitlab`): `main`, then, for a command that
    asks for it (`quick_exit`), out without the interpreter's teardown. Once torch is
    imported, tearing the interpreter down takes about half a second on the 2-core machine
    (`python -c "import torch"` 1.7 s, with os._exit 1.1 s): a third of a `predict`."""
    code, args = _run(sys.argv[1:])
    if getattr(args, "quick_exit", False):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _run(argv: list[str]) -> tuple[int, argparse.Namespace | None]:
    args = build_parser(argv).parse_args(argv)
    try:
        return args.func(args), args
    except DigitlabError as e:
        print(f"digitlab: error: {e}", file=sys.stderr)
        return 2, args
    except KeyboardInterrupt:  # long work stops cleanly; what was saved stays (runs resume, studies skip)
        print("\ndigitlab: interrupted", file=sys.stderr)
        return 130, args
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1, args


if __name__ == "__main__":
    program()
