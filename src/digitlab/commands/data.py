"""`digitlab data` and `digitlab models`: MNIST in the cache, and the model presets."""

from __future__ import annotations

import json

from ..errors import DigitlabError
from .common import add_command, print_json


# --- data -----------------------------------------------------------------------------------


def cmd_data(args) -> int:
    from ..data import mnist

    if args.action == "fetch":
        where = mnist.fetch()
        print(f"MNIST ready in {where}")
    elif args.action == "verify":
        problems = mnist.verify()
        if problems:
            raise DigitlabError("MNIST verification failed: " + "; ".join(problems))
        for key in mnist.FILES:
            print(f"ok  {mnist.FILES[key]:<26} sha256 {mnist.SHA256[key]}")
        print(f"ok  class counts train {mnist.CLASS_COUNTS['train']}")
        print(f"ok  class counts test  {mnist.CLASS_COUNTS['test']}")
        print(f"MNIST in {mnist.cache_dir()} verified")
    else:
        info = mnist.info()
        if args.json:
            print_json(info)
            return 0
        print(f"location: {info['location']}")
        for split in ("train", "test"):
            s = info[split]
            print(f"{split:>5}: images {tuple(s['images'])}  labels {tuple(s['labels'])}  "
                  f"pixel mean {s['pixel_mean']:.4f} std {s['pixel_std']:.4f}")
            print(f"       class counts {s['class_counts']}")
    return 0


# --- models ---------------------------------------------------------------------------------


def cmd_models(args) -> int:
    from ..models import format_summary, list_presets, resolve_model, summarize

    if args.name is None:
        presets = list_presets()
        if args.json:
            print_json([{**p.to_json(), "description": p.description,
                          "total_params": summarize(p)["total_params"]} for p in presets])
            return 0
        for p in presets:
            print(f"{p.name:<18} {summarize(p)['total_params']:>9,} params  {p.description}")
        print("\nany spec string works too, e.g. `digitlab models 32C5-AP2-F-20-R-10-SM`")
        return 0
    summary = summarize(resolve_model(args.name))
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0


def register(sub) -> None:
    """Add this module's commands to the `digitlab` parser."""
    p = add_command(sub, "data",
                    description="MNIST lives in $DIGITLAB_DATA/mnist (default ~/.cache/digitlab/mnist).")
    p.add_argument("action", choices=["fetch", "verify", "info"],
                   help="fetch: get and cache the verified IDX files; verify: check SHA-256s and class counts; "
                        "info: shapes, class counts, pixel statistics")
    p.add_argument("--json", action="store_true", help="info as JSON")
    p.set_defaults(func=cmd_data)

    p = add_command(sub, "models")
    p.add_argument("name", nargs="?", help="preset name or spec string (omit to list presets)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_models)
