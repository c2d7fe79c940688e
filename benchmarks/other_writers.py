"""Prints how a checkpoint reads other writers: digits, numbers and letters from three
handwriting fonts nothing in digitlab was made from (evaluation/writers.py).

Each family's images are read as `digitlab predict` reads a drawing (the run's group
judge and line reader included, unless --no-groups or --no-lines). Digits and numbers: the share read right (exactly,
and not rejected); letters: the share rejected as "not a digit"; both per font. These
images are never trained on. The fonts come from Debian packages:

    apt-get install -y -q fonts-humor-sans fonts-ecolier-court fonts-havana
    python benchmarks/other_writers.py runs/default/best [--count 100] [--seed 0] [--no-lines] [--no-groups] [--json OUT]
"""

from __future__ import annotations

import argparse

from digitlab.evaluation.writers import check_writers, format_writers
from digitlab.files import write_json_atomic
from digitlab.recognition.predictor import Predictor


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", help="checkpoint (or ensemble) to read with, e.g. runs/default/best")
    p.add_argument("--count", type=int, default=100, help="images per family (default 100)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-lines", action="store_true", help="no line reader: touching digits are split alone")
    p.add_argument("--no-groups", action="store_true",
                   help="no group judge: a group is split by its width and the classifier's doubt")
    p.add_argument("--json", metavar="OUT", help="also write the figures to this JSON file")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    predictor = Predictor.load(args.checkpoint, lines=None if args.no_lines else "auto",
                               groups=None if args.no_groups else "auto")
    result = check_writers(predictor, args.count, args.seed)
    print(format_writers(result))
    if args.json:
        write_json_atomic(args.json, {"checkpoint": args.checkpoint,
                                      "line_reader": str(predictor.lines.path) if predictor.lines else None,
                                      "group_judge": str(predictor.groups.path) if predictor.groups else None,
                                      **result})


if __name__ == "__main__":
    main()
