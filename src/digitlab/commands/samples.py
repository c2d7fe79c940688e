"""`digitlab samples stats|list|export`: the corrections collected by the page; `digitlab
finetune`: a checkpoint trained further on them."""

from __future__ import annotations

from pathlib import Path

from ..errors import DigitlabError
from .common import add_command, print_json

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


def finetune_data(samples, holdout: float, seed: int, location: str):
    """The store's samples as the tensors `finetune` takes: a seeded share of each label held out."""
    import torch

    from ..store.holdout import sample_arrays, sample_ids, split_samples
    from ..training.finetune import FinetuneData

    train, held = split_samples(samples, holdout, seed)
    digits, labels, nondigits = sample_arrays(train)
    held_digits, held_labels, _ = sample_arrays(held)
    return FinetuneData(torch.from_numpy(digits), torch.from_numpy(labels), torch.from_numpy(nondigits),
                        torch.from_numpy(held_digits), torch.from_numpy(held_labels),
                        {"store": location, "trained_on": sample_ids(train), "held_out": sample_ids(held)})


def cmd_finetune(args) -> int:
    from ..files import check_output_dir
    from ..training.finetune import FinetuneConfig, finetune

    if Path(args.out).resolve() == Path(args.checkpoint).resolve():
        raise DigitlabError("--out must differ from the checkpoint: the one fine-tuned is kept as it is")
    check_output_dir(args.out, "the fine-tuned checkpoint", "model.json")  # before any work
    cfg = FinetuneConfig(steps=args.steps, lr=args.lr, mnist_batch=args.mnist_batch, sample_batch=args.sample_batch,
                         holdout=args.holdout, seed=args.seed, val_images=args.val_images)
    with _open(args) as store:
        rows, location = store.samples(), store.location
    print(f"fine-tuning {args.checkpoint} on {len(rows)} samples from {location} mixed with MNIST training images "
          f"({cfg.steps} steps)")
    data = finetune_data(rows, cfg.holdout, cfg.seed, location)
    result = finetune(args.checkpoint, data, args.out, cfg, device=args.device)
    print(f"MNIST validation accuracy  {result.before['mnist_val']:.4f} -> {result.after['mnist_val']:.4f}  "
          f"({result.val_images} of the checkpoint's validation images)")
    print(f"held-out samples           {result.before['held_out']:.4f} -> {result.after['held_out']:.4f}  "
          f"({result.held_out} held out, {result.trained_on} trained on)")
    print(f"fine-tuned checkpoint: {result.out}")
    return 0


def register(sub) -> None:
    """Add this module's commands to the `digitlab` parser."""
    from ..store.export import FORMATS

    p = add_command(sub, "samples",
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

    from ..training.finetune import FinetuneConfig

    defaults = FinetuneConfig()
    p = add_command(sub, "finetune",
                    description="Continue training CKPT on the samples in the store mixed with MNIST training "
                                "images (so MNIST is not forgotten), with a held-out part of the samples. Prints "
                                "accuracy on CKPT's own MNIST validation images (never trained on; the test set "
                                "is left to `digitlab evaluate`) and on the held-out samples, before and after; "
                                "writes an ordinary checkpoint to OUT.")
    p.add_argument("checkpoint", metavar="CKPT", help="checkpoint directory (e.g. runs/default/best)")
    p.add_argument("--store", default=DEFAULT_STORE, metavar="S", help=store_help)
    p.add_argument("--out", required=True, metavar="OUT", help="where the fine-tuned checkpoint goes (new, empty, "
                                                                "or an earlier checkpoint, which is replaced)")
    p.add_argument("--steps", type=int, default=defaults.steps, help=f"optimizer steps (default {defaults.steps})")
    p.add_argument("--lr", type=float, default=defaults.lr, help=f"peak learning rate (default {defaults.lr:g})")
    p.add_argument("--mnist-batch", type=int, default=defaults.mnist_batch, metavar="N",
                   help=f"MNIST training images per step (default {defaults.mnist_batch})")
    p.add_argument("--sample-batch", type=int, default=defaults.sample_batch, metavar="N",
                   help=f"samples per step, drawn with replacement (default {defaults.sample_batch})")
    p.add_argument("--holdout", type=float, default=defaults.holdout, metavar="F",
                   help=f"share of each label's samples held out to measure on (default {defaults.holdout:g})")
    p.add_argument("--seed", type=int, default=defaults.seed, help=f"random seed (default {defaults.seed})")
    p.add_argument("--val-images", type=int, metavar="N", help="measure MNIST accuracy on a stratified N of CKPT's "
                                                                "validation images, for a quick run (default: all of "
                                                                "them, 5,000 for the default split)")
    p.add_argument("--device", help="cpu or cuda[:N]")
    p.set_defaults(func=cmd_finetune)
