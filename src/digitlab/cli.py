"""`digitlab <command>`: a thin layer that parses arguments, calls the modules and prints."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .errors import DigitlabError


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2))


# --- data -----------------------------------------------------------------------------------


def cmd_data(args) -> int:
    from .data import mnist

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
            _print_json(info)
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
    from .models import format_summary, list_presets, resolve_model, summarize

    if args.name is None:
        presets = list_presets()
        if args.json:
            _print_json([{**p.to_json(), "description": p.description,
                          "total_params": summarize(p)["total_params"]} for p in presets])
            return 0
        for p in presets:
            print(f"{p.name:<18} {summarize(p)['total_params']:>9,} params  {p.description}")
        print("\nany spec string works too, e.g. `digitlab models 32C5-AP2-F-20-R-10-SM`")
        return 0
    summary = summarize(resolve_model(args.name))
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0


# --- train ----------------------------------------------------------------------------------

_AUG_FLAGS = ("rotation", "width_shift", "height_shift", "shear", "zoom")


def _train_config(args, name: str | None = None):
    from dataclasses import replace

    from .training.config import REPORT_AUGMENT, recipe

    cfg = recipe(name or args.recipe, model=args.model, optimizer=args.optimizer, lr=args.lr,
                 schedule=args.schedule, loss=args.loss, batch_size=args.batch_size, epochs=args.epochs,
                 val_size=args.val_size, subset=args.subset, seed=args.seed, precision=args.precision)
    overrides = {k: getattr(args, f"aug_{k}") for k in _AUG_FLAGS if getattr(args, f"aug_{k}") is not None}
    if args.augment is False:
        if overrides:
            raise DigitlabError("--no-augment cannot be combined with --aug-* settings")
        return replace(cfg, augment=None)
    if args.augment:
        base = REPORT_AUGMENT
    elif overrides:
        base = cfg.augment or REPORT_AUGMENT
    else:
        return cfg
    return replace(cfg, augment=replace(base, **overrides))


def _default_out(name: str) -> Path:
    return Path(f"runs/{name.lower()}-{time.strftime('%Y%m%d-%H%M%S')}")


def _train_ensemble(args) -> int:
    from .training.ensemble import ENSEMBLES, is_ensemble, plan_ensemble, read_manifest, train_ensemble
    from .training.trainer import train

    if args.resume:
        out = Path(args.resume)
        print(f"resuming ensemble {out} ({read_manifest(out)['name']})")
    else:
        ens = ENSEMBLES[args.recipe]
        members = ens.members if args.members is None else args.members
        if members < 1:
            raise DigitlabError(f"--members {members}: an ensemble needs at least one member")
        out = Path(args.out) if args.out else _default_out(args.recipe)
        if is_ensemble(out) or (out / "last").exists():
            raise DigitlabError(f"{out} already holds a run; use --resume {out} or choose another --out")
        cfg = _train_config(args, ens.recipe)
        plan_ensemble(out, args.recipe, cfg, members, ens.tta)
        print(f"training ensemble {args.recipe}: {members} x {cfg.describe()}, test-time shifts "
              f"{'on' if ens.tta else 'off'} -> {out}")
    try:
        train_ensemble(out, lambda cfg, run, resume: train(cfg, run, resume=resume, device=args.device,
                                                             progress=not args.quiet))
    except KeyboardInterrupt:
        print(f"\ninterrupted; continue with: digitlab train --resume {out}", file=sys.stderr)
        return 130
    print(f"ensemble: {out} (read it with: digitlab evaluate {out})")
    return 0


def cmd_train(args) -> int:
    from .training.checkpoint import read_meta
    from .training.config import RECIPES, TrainConfig
    from .training.ensemble import ENSEMBLES, is_ensemble
    from .training.trainer import train

    if (args.resume and is_ensemble(args.resume)) or (not args.resume and args.recipe in ENSEMBLES):
        return _train_ensemble(args)
    if args.members is not None:
        raise DigitlabError(f"--members is for ensemble recipes ({', '.join(ENSEMBLES)})")
    if args.resume:
        out = Path(args.resume)
        meta = read_meta(out / "last")
        cfg = TrainConfig.from_json(meta["train_config"])
        print(f"resuming {out} after epoch {len(meta['history'])} of {cfg.epochs}")
    else:
        cfg = _train_config(args)
        out = Path(args.out) if args.out else _default_out(
            cfg.recipe if cfg.model == RECIPES[cfg.recipe].model else cfg.model)
        if (out / "last").exists():
            raise DigitlabError(f"{out} already holds a run; use --resume {out} or choose another --out")
        print(f"training {cfg.describe()} -> {out}")
    try:
        result = train(cfg, out, resume=bool(args.resume), device=args.device, progress=not args.quiet)
    except KeyboardInterrupt:
        print(f"\ninterrupted; continue with: digitlab train --resume {out}", file=sys.stderr)
        return 130
    print(f"best checkpoint: {result.best} (epoch {result.best_epoch}, "
          f"val accuracy {result.best_val_accuracy:.4f})")
    print(f"last checkpoint: {result.last}")
    print(f"history: {out / 'history.json'}")
    return 0


# --- evaluate -------------------------------------------------------------------------------


def _evaluate_open_set(args) -> int:
    from .device import pick_device
    from .evaluation.open_set import OPEN_SET_FILES, format_open_set, open_set_evaluation, write_open_set
    from .files import check_output_dir
    from .training.checkpoint import load_checkpoint
    from .training.ensemble import is_ensemble

    if is_ensemble(args.checkpoint) or args.tta:
        raise DigitlabError("--open-set scores one checkpoint without --tta")
    out = Path(args.out) if args.out else Path(args.checkpoint) / "open-set"
    check_output_dir(out, "the open-set evaluation", OPEN_SET_FILES[0])  # refuse a bad target before the work
    dev = pick_device(args.device)
    result = open_set_evaluation(load_checkpoint(args.checkpoint, dev), dev, split=args.split,
                                 per_family=args.per_family)
    write_open_set(result, out)
    if args.json:
        _print_json(result.to_json())
        return 0
    print(format_open_set(result))
    print("written: " + ", ".join(str(out / name) for name in OPEN_SET_FILES))
    return 0


def _evaluate_numbers(args) -> int:
    from .evaluation.numbers import format_numbers, numbers_evaluation
    from .recognition.predictor import Predictor
    from .training.ensemble import is_ensemble

    if is_ensemble(args.checkpoint) or args.tta or args.open_set or args.report or args.out:
        raise DigitlabError("--numbers reads generated numbers with one checkpoint; it takes no --tta, --open-set, "
                            "--report or --out")
    if args.count < 10:
        raise DigitlabError(f"--count {args.count}: read at least 10 numbers")
    result = numbers_evaluation(Predictor.load(args.checkpoint, args.device), split=args.split, n=args.count)
    if args.json:
        _print_json(result.to_json())
    else:
        print(format_numbers(result))
    return 0


def cmd_evaluate(args) -> int:
    t0 = time.perf_counter()
    if args.numbers:
        return _evaluate_numbers(args)
    if args.open_set and not args.report:
        return _evaluate_open_set(args)
    if args.out:
        raise DigitlabError("--out is where --open-set alone writes its files; a report (with its open-set "
                            "section) goes to --report DIR")
    if args.report:
        from .evaluation.report import check_report_dir, evaluate, report_text, write_report
        from .training.ensemble import is_ensemble

        if is_ensemble(args.checkpoint) or args.tta or args.split != "test":
            raise DigitlabError("--report covers one checkpoint on the test set, without --tta or --split val; "
                                "drop --report to score an ensemble or the validation images")
        check_report_dir(args.report)  # refuse a bad target before the work, not after
        evaluation = evaluate(args.checkpoint, device=args.device, robustness_images=args.robustness_images)
        metrics = {**{k: evaluation.metrics[k] for k in ("accuracy", "loss", "n")}, "split": "test", "tta": False}
        if not args.json:
            print(report_text(evaluation))
        write_report(evaluation, args.report)
    else:
        from .evaluation import evaluate_checkpoint

        metrics = evaluate_checkpoint(args.checkpoint, device=args.device, split=args.split, tta=args.tta)
    if args.json:
        _print_json(metrics)
        return 0
    where = "validation" if args.split == "val" else "test"
    for member in metrics.get("members", []):
        print(f"  member {member['checkpoint']}: {where} accuracy {member['accuracy']:.4f}  loss {member['loss']:.4f}")
    print(f"{where} accuracy {metrics['accuracy']:.4f}  loss {metrics['loss']:.4f}  "
          f"({metrics['n']} images{', test-time shifts' if metrics.get('tta') else ''}, "
          f"{time.perf_counter() - t0:.1f}s)  checkpoint {args.checkpoint}")
    if args.report:
        print(f"report: {Path(args.report) / 'report.html'} (metrics.json and the figures beside it)")
    return 0


def cmd_compare(args) -> int:
    from .evaluation.compare import compare, format_comparison

    rows = compare(args.checkpoints, args.out, device=args.device, robustness_images=args.robustness_images)
    print(format_comparison(rows))
    print(f"written: {Path(args.out) / 'compare.json'}, {Path(args.out) / 'training_curves.png'}")
    return 0


# --- studies, cross-validation, search, LR range test ------------------------------------


def _run(study, args):
    from .experiments.run import run_study

    return run_study(study, args.out, subset=getattr(args, "study_subset", None),
                      epochs=getattr(args, "study_epochs", None), workers=args.workers, ray=args.ray is not None,
                      ray_address=args.ray or None, threads=args.threads, progress=not args.quiet)


def cmd_study(args) -> int:
    from .experiments.run import report_study
    from .experiments.study import list_studies, load_study
    from .experiments.summary import verdict

    if args.action == "list":
        for study in list_studies():
            trials = len(study.trials())
            print(f"{study.name:<16} {trials:>3} trials  {study.description}")
        return 0
    if not args.name:
        raise DigitlabError(f"`digitlab study {args.action}` needs a study name; `digitlab study list` shows them")
    study = load_study(args.name)
    args.out = args.out or f"runs/studies/{study.name}"
    if args.action == "run":
        result = _run(study, args)
    else:
        result = report_study(study, args.out, subset=args.study_subset, epochs=args.study_epochs)
    print(verdict(result.summaries))
    print("written: " + ", ".join(str(f) for f in result.files))
    return 0


def _settings_study(name: str, description: str, args, axes: dict | None = None):
    from .experiments.study import Study

    cfg = _train_config(args)
    return Study(name, description, base=cfg.to_json(), axes=axes or {}, folds=args.folds, source=f"`digitlab {name}`")


def cmd_cv(args) -> int:
    study = _settings_study("cv", "k-fold cross-validation", args)
    args.out = args.out or "runs/cv"
    result = _run(study, args)
    scores = result.summaries[0]["scores"]
    for k, score in enumerate(scores, 1):
        print(f"fold {k:>2}: validation accuracy {score:.4f}")
    print(f"mean {result.summaries[0]['mean_score']:.4f} ± {result.summaries[0]['std_score']:.4f} "
          f"over {len(scores)} folds ({args.out})")
    return 0


def _parse_value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _parse_grid(params: list[str]) -> dict:
    grid = {}
    for item in params:
        key, sep, values = item.partition("=")
        if not sep or not key or not values:
            raise DigitlabError(f"--param {item!r}: write KEY=V1,V2,... (e.g. batch_size=32,64)")
        grid[key.replace("-", "_")] = [_parse_value(v) for v in values.split(",")]
    return grid


def cmd_search(args) -> int:
    from .experiments.study import load_study
    from .experiments.summary import cv_results, format_cv_results

    if args.study:
        if args.param:
            raise DigitlabError("give either --study or --param, not both")
        study = load_study(args.study)
        args.study_subset, args.study_epochs = args.subset, args.epochs  # a quick run of the study's grid
        if not study.folds:
            raise DigitlabError(f"study {study.name} has no folds; a search needs k-fold cross-validation")
    elif args.param:
        study = _settings_study("search", "grid search with k-fold cross-validation", args, _parse_grid(args.param))
        study.trials()  # a bad key or value is named before anything runs
    else:
        raise DigitlabError("nothing to search: give --param KEY=V1,V2 (repeatable) or --study NAME")
    args.out = args.out or ("runs/search" if study.name == "search" else f"runs/search-{study.name}")
    result = _run(study, args)
    columns = cv_results(result.summaries)
    print(format_cv_results(columns))
    best = columns["rank_test_score"].index(1)
    print(f"best parameters: {columns['params'][best]} (mean validation accuracy "
          f"{columns['mean_test_score'][best]:.4f})")
    return 0


def cmd_lr_find(args) -> int:
    from .evaluation.plots import lr_find_curves
    from .files import write_bytes_atomic, write_json_atomic
    from .training.lr_find import LRFindConfig, lr_range_test

    cfg = _train_config(args)
    find = LRFindConfig(min_lr=args.min_lr, max_lr=args.max_lr, steps=args.steps)
    result = lr_range_test(cfg, find)
    out = Path(args.out)
    write_json_atomic(out / "lr_find.json", {"config": cfg.to_json(), **result})
    write_bytes_atomic(out / "lr_find.png", lr_find_curves({cfg.optimizer: result}))
    print(f"{cfg.model}, {cfg.optimizer}, batch {cfg.batch_size}: swept {result['steps']} steps from "
          f"{result['lrs'][0]:.2g} to {result['lrs'][-1]:.2g}")
    print(f"suggested learning rate {result['suggested_lr']:.3g} (steepest descent of the smoothed loss)")
    print(f"written: {out / 'lr_find.json'}, {out / 'lr_find.png'}")
    return 0


# --- reading drawings: predict, serve ------------------------------------------------------

DEFAULT_MODEL = "runs/default/best"  # what `make run` trains


def _load_predictor(args):
    from .recognition.predictor import Predictor

    if not Path(args.model).exists() and args.model == DEFAULT_MODEL:
        raise DigitlabError(f"no model at {DEFAULT_MODEL}: run `make run` (or `digitlab train --out runs/default`) "
                            "first, or pass --model CKPT")
    return Predictor.load(args.model, device=args.device, runtime=args.runtime)


def cmd_predict(args) -> int:
    from .recognition.preprocess import ImageError

    predictor = _load_predictor(args)
    results, failed = [], 0
    for name in args.images:
        try:
            data = Path(name).read_bytes()
            result = {"file": name, **predictor.read(data)}
        except OSError as e:
            result, failed = {"file": name, "error": f"cannot read {name}: {e.strerror or e}"}, failed + 1
        except ImageError as e:
            result, failed = {"file": name, "error": str(e)}, failed + 1
        results.append(result)
        if not args.json:
            if "error" in result:
                print(f"{name}: error: {result['error']}")
            elif result["number"] is None:
                print(f"{name}: {result['reason']}")
            else:
                confidences = " ".join(f"{d['digit']}:{d['confidence']:.3f}" for d in result["digits"])
                flag = f"  (rejected: {result['reason']})" if result["rejected"] else ""
                print(f"{name}: {result['number']}  [{confidences}]{flag}")
    if args.json:
        _print_json(results if len(results) > 1 else results[0])
    return 2 if failed else 0


def cmd_serve(args) -> int:
    from .web.limits import Limits
    from .web.server import ServeConfig, serve

    config = ServeConfig(model=args.model, device=args.device, runtime=args.runtime, host=args.host, port=args.port,
                         workers=args.workers, threads=args.threads, log_format=args.log_format,
                         limits=Limits(args.max_image_bytes, args.max_pixels, args.timeout))
    if args.workers < 1 or (args.threads is not None and args.threads < 1):
        raise DigitlabError(f"--workers and --threads must be at least 1, not {args.workers} and {args.threads}")
    # checked (and its rejection threshold cached) once here; then each worker loads it
    checkpoint = _load_predictor(args).checkpoint.path
    print(f"serving {checkpoint} on http://{args.host}:{args.port}/ with {args.workers} worker(s), "
          f"{config.threads_per_worker} thread(s) each  (API docs at /docs, metrics at /metrics; Ctrl-C stops)",
          flush=True)
    serve(config)
    return 0


def cmd_export(args) -> int:
    from .recognition.onnx_export import TOLERANCE, export_onnx
    from .training.checkpoint import load_checkpoint

    difference = export_onnx(load_checkpoint(args.checkpoint), args.onnx)
    print(f"wrote {args.onnx}: ONNX Runtime matches PyTorch within {difference:.2e} (max abs logit difference; "
          f"tolerance {TOLERANCE:g})")
    return 0


def cmd_bench(args) -> int:
    from .bench import run_bench
    from .files import write_json_atomic

    result = run_bench(quick=args.quick)
    write_json_atomic(args.out, result)
    print(f"written: {args.out}")
    return 0


def _add_runner_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, default=1, metavar="K",
                   help="run K trials at once in local worker processes, threads split between them (default 1)")
    p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="run the trials on Ray: a local instance without ADDRESS, else the cluster at ADDRESS")
    p.add_argument("--threads", type=int, metavar="T",
                   help="intra-op threads per trial (default: this machine's threads / K); the same T gives "
                        "bit-identical results in-process, in workers and on Ray")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


# --- parser ---------------------------------------------------------------------------------


def _add_service_options(p: argparse.ArgumentParser) -> None:
    from .web.access_log import FORMATS
    from .web.limits import Limits

    limits = Limits()
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="worker processes, each with its own copy of the model (default 1)")
    p.add_argument("--threads", type=int, metavar="T",
                   help="PyTorch threads per worker (default: this machine's cores / N, at least 1)")
    p.add_argument("--log-format", choices=FORMATS, default="text",
                   help="one line per request as text (default) or JSON, on stderr")
    p.add_argument("--max-image-bytes", type=int, default=limits.max_image_bytes, metavar="B",
                   help=f"largest image accepted, in bytes (default {limits.max_image_bytes:,}); larger: 413")
    p.add_argument("--max-pixels", type=int, default=limits.max_pixels, metavar="P",
                   help=f"most pixels (width x height) an image may have (default {limits.max_pixels:,}, "
                        "4096x4096, also the highest allowed); more: 422")
    p.add_argument("--timeout", type=float, default=limits.timeout_s, metavar="S",
                   help=f"seconds one image may take to read (default {limits.timeout_s:g}); longer: 503")



def _add_train_options(p: argparse.ArgumentParser, ensembles: bool = False) -> None:
    """The settings of one training run, shared by train, cv, search and lr-find; `train`
    also takes the ensemble recipes."""
    from .data.augment import AugmentConfig
    from .device import PRECISIONS
    from .training.config import RECIPES
    from .training.ensemble import ENSEMBLES
    from .training.registry import LOSSES, OPTIMIZERS, SCHEDULES

    p.add_argument("--recipe", default="default", choices=list(RECIPES) + (list(ENSEMBLES) if ensembles else []),
                   help="base settings (default: default; see the list below)")
    if ensembles:
        p.add_argument("--members", type=int, metavar="N", help="models in an ensemble recipe (default: the "
                                                                "recipe's); member k trains with seed + k")
    p.add_argument("--model", help="preset name or spec string (default: the recipe's)")
    p.add_argument("--optimizer", choices=list(OPTIMIZERS), help="default: the recipe's")
    p.add_argument("--lr", type=float, help="peak learning rate (default: the recipe's, else the optimizer's)")
    p.add_argument("--schedule", choices=list(SCHEDULES), help="learning-rate schedule (default: the recipe's)")
    p.add_argument("--loss", choices=list(LOSSES), help="default: sparse_categorical_crossentropy")
    p.add_argument("--batch-size", type=int, help="default: the recipe's")
    p.add_argument("--epochs", type=int, help="default: the recipe's")
    aug = p.add_mutually_exclusive_group()
    aug.add_argument("--augment", action="store_true", default=None,
                     help="random affine augmentation with the report's settings (below) unless overridden")
    aug.add_argument("--no-augment", dest="augment", action="store_false", help="turn augmentation off "
                     "(default: the recipe's setting)")
    defaults = AugmentConfig()
    for k, unit in zip(_AUG_FLAGS, ("degrees", "fraction of width", "fraction of height", "degrees",
                                    "scale 1 +/- this")):
        p.add_argument(f"--aug-{k.replace('_', '-')}", dest=f"aug_{k}", type=float, metavar="X",
                       help=f"{unit} (report: {getattr(defaults, k)})")
    p.add_argument("--val-size", type=int, help="validation images held out of the 60k (default 5000)")
    p.add_argument("--subset", type=int, help="train on this many images only, for quick runs")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--precision", choices=PRECISIONS, help="auto (the default): bf16 where the hardware computes it natively, else fp32")


def build_parser() -> argparse.ArgumentParser:
    from .data.negatives import PER_FAMILY
    from .evaluation.numbers import NUMBERS
    from .evaluation.robustness import ROBUSTNESS_IMAGES
    from .training.config import RECIPES
    from .training.ensemble import ENSEMBLES

    parser = argparse.ArgumentParser(prog="digitlab", description="Recognize handwritten digits with neural networks.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("data", help="fetch, verify or describe MNIST",
                       description="MNIST lives in $DIGITLAB_DATA/mnist (default ~/.cache/digitlab/mnist).")
    p.add_argument("action", choices=["fetch", "verify", "info"],
                   help="fetch: get and cache the verified IDX files; verify: check SHA-256s and class counts; "
                        "info: shapes, class counts, pixel statistics")
    p.add_argument("--json", action="store_true", help="info as JSON")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("models", help="list presets or summarize a model")
    p.add_argument("name", nargs="?", help="preset name or spec string (omit to list presets)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("train", help="train a model (or an ensemble); writes checkpoints and history",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Start from --recipe and override any of its settings. Writes OUT/best "
                                   "(best validation accuracy),\nOUT/last (resumable) and OUT/history.json. An "
                                   "ensemble recipe trains one such run per member\n(OUT/seed-K) and writes "
                                   "OUT/ensemble.json, which evaluate reads.",
                       epilog="recipes:\n" + "\n".join(f"  {name:<18}{cfg.describe()}" for name, cfg in RECIPES.items())
                       + "\n" + "\n".join(f"  {name:<18}{ens.describe()}" for name, ens in ENSEMBLES.items()))
    _add_train_options(p, ensembles=True)
    p.add_argument("--device", help="cpu or cuda[:N] (default: cuda when present)")
    p.add_argument("--out", help="output directory (default runs/NAME-TIMESTAMP)")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its last completed epoch")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="test-set accuracy and loss of a checkpoint; --report for the full report",
                       description="Test-set accuracy and loss of a checkpoint. With --report DIR: also the "
                                   "classification report, confusion matrix, ROC and precision-recall curves, "
                                   "training curves, the most confident mistakes, calibration and robustness, "
                                   "as PNG files, metrics.json and one self-contained DIR/report.html.")
    p.add_argument("checkpoint", help="checkpoint directory (e.g. runs/default/best), or an ensemble directory "
                                      "(one holding ensemble.json)")
    p.add_argument("--split", choices=["test", "val"], default="test",
                   help="test: the 10k test images (default); val: the images the run held out for validation, "
                        "where choices such as test-time shifts are made")
    tta = p.add_mutually_exclusive_group()
    tta.add_argument("--tta", action="store_true", default=None,
                     help="average over the image and its four one-pixel shifts (default: an ensemble's own "
                          "setting; off for a single checkpoint)")
    tta.add_argument("--no-tta", dest="tta", action="store_false", help="no test-time shifts")
    p.add_argument("--report", metavar="DIR", help="write the evaluation report into DIR (new, empty, or an "
                                                    "earlier report, which is replaced)")
    p.add_argument("--robustness-images", type=int, default=ROBUSTNESS_IMAGES, metavar="N",
                   help=f"test images (stratified) transformed for the robustness table (default "
                        f"{ROBUSTNESS_IMAGES}; 10000 for all)")
    p.add_argument("--open-set", action="store_true",
                   help="how the checkpoint tells digits from held-out generated non-digits: per family the AUROC, "
                        "FPR at 95%% TPR and share rejected; digits (clean and degraded) rejected; files into --out. "
                        "A --report always has this as a section")
    p.add_argument("--out", metavar="DIR", help="where --open-set writes open_set.json, open_set_scores.png and "
                                                 "open_set_accepted.png (default CKPT/open-set)")
    p.add_argument("--per-family", type=int, default=PER_FAMILY, metavar="N",
                   help=f"non-digits per family for --open-set (default {PER_FAMILY})")
    p.add_argument("--numbers", action="store_true",
                   help="read generated numbers of 3-5 digits (made from the split's digits) whose digits stand apart, "
                        "touch or overlap: whole-number and digit accuracy by gap and by length, with and without "
                        "splitting touching digits, and single digits")
    p.add_argument("--count", type=int, default=NUMBERS, metavar="N",
                   help=f"numbers to read with --numbers (default {NUMBERS})")
    p.add_argument("--json", action="store_true", help='print {"accuracy", "loss", "n", "split", "tta"} (and "members" '
                                                        'for an ensemble); with --open-set or --numbers, their figures')
    p.add_argument("--device", help="cpu or cuda[:N]")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("compare", help="several checkpoints side by side",
                       description="Accuracy, loss, calibration error, parameters and robustness of several "
                                   "checkpoints in one table; their training curves overlaid in one figure.")
    p.add_argument("checkpoints", nargs="+", metavar="CKPT", help="two or more checkpoint directories")
    p.add_argument("--out", default="runs/compare", help="directory for compare.json and training_curves.png "
                                                         "(default runs/compare)")
    p.add_argument("--robustness-images", type=int, default=ROBUSTNESS_IMAGES, metavar="N",
                   help=f"test images transformed for the robustness columns (default {ROBUSTNESS_IMAGES})")
    p.add_argument("--device", help="cpu or cuda[:N]")
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("study", help="the report's experiments: list, run, report",
                       description="Each study of the report is a TOML file in studies/: a base config plus the "
                                   "settings it varies. `run` trains every trial (finished trials are kept in "
                                   "OUT/results.jsonl, so a killed study resumes) and writes the summary; "
                                   "`report` rewrites the summary from the results.")
    p.add_argument("action", choices=["list", "run", "report"])
    p.add_argument("name", nargs="?", help="study name (see `digitlab study list`) or path of a TOML file")
    p.add_argument("--subset", dest="study_subset", type=int, metavar="N",
                   help="train every trial on N images (overrides the study's base)")
    p.add_argument("--epochs", dest="study_epochs", type=int, metavar="E",
                   help="epochs per trial (overrides the study's base; a value the study varies keeps its own)")
    p.add_argument("--out", help="output directory (default runs/studies/NAME)")
    _add_runner_options(p)
    p.set_defaults(func=cmd_study)

    p = sub.add_parser("cv", help="k-fold cross-validation of one training setting",
                       description="Stratified k-fold cross-validation on the 60k training images: every fold is "
                                   "held out once; prints each fold's final validation accuracy and mean ± std.")
    _add_train_options(p)
    p.add_argument("--folds", type=int, default=10, help="number of folds (default 10)")
    p.add_argument("--out", help="output directory (default runs/cv)")
    _add_runner_options(p)
    p.set_defaults(func=cmd_cv)

    p = sub.add_parser("search", help="grid search with k-fold cross-validation",
                       description="Every combination of the --param values (or the axes of a study), each "
                                   "cross-validated; prints a table ranked like scikit-learn's cv_results_.")
    p.add_argument("--param", action="append", metavar="KEY=V1,V2",
                   help="a setting and its values, e.g. batch_size=32,64 (repeatable); keys are train settings")
    p.add_argument("--study", help="search the axes of a study file instead (e.g. ann-grid)")
    _add_train_options(p)
    p.add_argument("--folds", type=int, default=3, help="folds per combination (default 3)")
    p.add_argument("--out", help="output directory (default runs/search)")
    _add_runner_options(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("lr-find", help="learning-rate range test",
                       description="Train while the learning rate grows exponentially; plot the smoothed loss "
                                   "against it and suggest the rate where it falls fastest.")
    _add_train_options(p)
    p.add_argument("--min-lr", type=float, default=1e-6, help="start of the sweep (default 1e-6)")
    p.add_argument("--max-lr", type=float, default=100.0, help="end of the sweep (default 100)")
    p.add_argument("--steps", type=int, default=200, help="steps in the sweep (default 200)")
    p.add_argument("--out", default="runs/lr-find", help="where lr_find.json and lr_find.png go (default runs/lr-find)")
    p.set_defaults(func=cmd_lr_find)

    p = sub.add_parser("predict", help="read the digits or number in image files",
                       description="Each image (PNG, JPEG, WebP, GIF; dark ink on light paper or the reverse) is "
                                   "normalized the way MNIST was made, split into digits left to right and read; "
                                   "a shape the model is not confident about is reported as rejected.")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"checkpoint directory (default {DEFAULT_MODEL})")
    p.add_argument("--json", action="store_true",
                   help='print {"file", "number", "digits": [{"digit", "confidence", "top3", "box"}], '
                        '"rejected", "reason"} per image')
    p.add_argument("--device", help="cpu or cuda[:N]")
    p.add_argument("--runtime", choices=["torch", "onnx"], default="torch",
                   help="run the model with PyTorch (default) or ONNX Runtime (exported once, kept as model.onnx)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("serve", help="the drawing page and the REST API",
                       description="Serve a page where people draw digits or whole numbers and see them read, "
                                   "and a JSON API: POST /api/predict, GET /api/health (liveness), GET /api/ready "
                                   "(readiness: the model loaded and warmed), GET /api/model, GET /metrics "
                                   "(Prometheus); OpenAPI docs at /docs. One log line per request on stderr.")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"checkpoint directory (default {DEFAULT_MODEL})")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--device", help="cpu or cuda[:N]")
    p.add_argument("--runtime", choices=["torch", "onnx"], default="torch",
                   help="run the model with PyTorch (default) or ONNX Runtime")
    _add_service_options(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("export", help="export a checkpoint to ONNX, checked against PyTorch",
                       description="Write the model as ONNX (raw pixels in, logits out, dynamic batch) and print "
                                   "the largest difference between ONNX Runtime's and PyTorch's logits.")
    p.add_argument("checkpoint", help="checkpoint directory")
    p.add_argument("--onnx", required=True, metavar="OUT", help="where to write the .onnx file")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("bench", help="training and inference speed of this machine, as JSON",
                       description="matmul GFLOP/s; per preset, training images/s in fp32 and bf16 against a plain "
                                   "PyTorch loop; inference latency and throughput with PyTorch and ONNX Runtime; "
                                   "the fast recipe's time to 99%% (not with --quick); peak memory.")
    p.add_argument("--quick", action="store_true", help="fewer steps and no fast-recipe runs (under a minute)")
    p.add_argument("--out", default="bench.json", help="where to write the results (default bench.json)")
    p.set_defaults(func=cmd_bench)
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
