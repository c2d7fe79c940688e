"""The options of every command that reads drawings (predict, serve, evaluate): which line
reader and which group judge go with the classifier."""

from __future__ import annotations

import argparse


def add_reader_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lines", default="auto", metavar="DIR",
                   help="line reader for digits that touch (default: the run's own, RUN/lines beside RUN/best, "
                        "where there is one; 'none' to read them by splitting alone)")
    p.add_argument("--groups", default="auto", metavar="DIR",
                   help="group judge that decides each stroke group: one digit, several or not a digit "
                        "(default: the run's own, RUN/groups beside RUN/best, where there is one; 'none' to "
                        "decide by the group's width and the classifier's doubt)")


def reader_choices(args) -> dict[str, str | None]:
    """What `Predictor.load` takes for `lines` and `groups`: "auto", a directory, or None."""
    return {name: None if value == "none" else value
            for name in ("lines", "groups") for value in [getattr(args, name, "auto")]}
