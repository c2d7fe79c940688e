"""`digitlab <command>`: a thin layer that parses arguments, calls the modules and prints."""

from __future__ import annotations

import argparse
import os
import sys

from .errors import DigitlabError


def build_parser() -> argparse.ArgumentParser:
    from .commands import GROUPS

    parser = argparse.ArgumentParser(prog="digitlab", description="Recognize handwritten digits with neural networks.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except DigitlabError as e:
        print(f"digitlab: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # long work stops cleanly; what was saved stays (runs resume, studies skip)
        print("\ndigitlab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
