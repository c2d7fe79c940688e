"""The `digitlab` commands, a module per group: each parses its arguments, calls the library
and prints. `cli.py` assembles the parser from their `register` functions."""

from . import bench, data, evaluate, experiments, explain, lines, reading, samples, train

GROUPS = (data, train, lines, evaluate, experiments, reading, explain, samples, bench)  # the order of `digitlab --help`
