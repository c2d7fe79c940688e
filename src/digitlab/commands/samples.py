"""`digitlab samples stats|list|export`: the corrections collected by the page."""

from __future__ import annotations

from .common import print_json

DEFAULT_STORE = "runs/default/samples.db"  # beside the model `make run` serves


def _open(args):
    from ..store import open_store

    return open_store(args.store, create=False)


def cmd_samples_stats(args) -> int:
    with _open(args) as store:
        counts = store.stats()
        if args.json:
            print_json({"store": store.location, "total": sum(counts.values()), "labels": counts})
            return 0
        print(f"{store.location}: {sum(counts.values())} samples")
        for name, n in counts.items():
            print(f"  {name:>11}  {n}")
    return 0


def cmd_samples_list(args) -> int:
    from ..store import label_name

    with _open(args) as store:
        rows = store.samples(limit=args.limit)
    print(f"{'id':>6}  {'created':<19}  {'label':<11}  {'read as':<8}  {'conf':>5}  model")
    for s in rows:
        created = s.created.strftime("%Y-%m-%d %H:%M:%S") if s.created else ""
        confidence = "" if s.confidence is None else f"{s.confidence:.3f}"
        print(f"{s.id:>6}  {created:<19}  {label_name(s.label):<11}  {s.reading or '':<8}  {confidence:>5}  "
              f"{s.model or ''}")
    return 0


def cmd_samples_export(args) -> int:
    from ..store.export import check_export_dir, export_samples

    check_export_dir(args.out, args.format)  # refuse a bad target before reading anything
    with _open(args) as store:
        rows = store.samples()
    written = export_samples(rows, args.out, args.format)
    print(f"exported {len(rows)} samples to {args.out} ({', '.join(str(p) for p in written)})")
    return 0


def register(sub) -> None:
    """Add this module's commands to the `digitlab` parser."""
    from ..store.export import FORMATS

    p = sub.add_parser("samples", help="the corrections collected by the page: stats, list, export",
                       description="The drawings people corrected on the page (\"Wrong? It is a ...\"), with the "
                                   "label they gave, from a SQLite file or a PostgreSQL database.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    store_help = f"a SQLite file or a postgresql://user:password@host/db URL (default {DEFAULT_STORE})"
    export_text = ("png: OUT/NNNNNN.png (the 28x28 input), OUT/drawn/ (the drawings as sent) and OUT/samples.csv; "
                   "idx: OUT/samples-images-idx3-ubyte and OUT/samples-labels-idx1-ubyte as MNIST's, label 10 "
                   "meaning 'not a digit'. OUT is written whole, replacing only an earlier export.")
    parsers = {}
    for name, func, text in (("stats", cmd_samples_stats, "samples per label"),
                             ("list", cmd_samples_list, "one line per sample: id, time, label, what the model read"),
                             ("export", cmd_samples_export, "write the samples as PNG files plus a CSV, or as IDX")):
        parsers[name] = actions.add_parser(name, help=text, description=export_text if name == "export" else None)
        parsers[name].add_argument("--store", default=DEFAULT_STORE, metavar="S", help=store_help)
        parsers[name].set_defaults(func=func)
    parsers["stats"].add_argument("--json", action="store_true", help='print {"store", "total", "labels": {...}}')
    parsers["list"].add_argument("--limit", type=int, metavar="N", help="the first N samples only (default: all)")
    parsers["export"].add_argument("--out", required=True, metavar="DIR",
                                   help="a new or empty directory, or an earlier export")
    parsers["export"].add_argument("--format", choices=FORMATS, default="png", help="png (default) or idx")
