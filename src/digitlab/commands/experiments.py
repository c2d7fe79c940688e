"""`digitlab study`, `cv`, `search` and `lr-find`: the report's experiments and the runner options."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import DigitlabError
from .common import add_command, add_quiet_option
from .train import add_train_options, train_config


# --- studies, cross-validation, search, LR range test ------------------------------------


def _run(study, args):
    from ..experiments.run import run_study

    return run_study(study, args.out, subset=getattr(args, "study_subset", None),
                      epochs=getattr(args, "study_epochs", None), workers=args.workers, ray=args.ray is not None,
                      ray_address=args.ray or None, threads=args.threads, progress=not args.quiet)


def cmd_study(args) -> int:
    from ..experiments.run import report_study
    from ..experiments.study import list_studies, load_study
    from ..experiments.summary import verdict

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
    from ..experiments.study import Study

    cfg = train_config(args)
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
    from ..experiments.study import load_study
    from ..experiments.summary import cv_results, format_cv_results

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
    from ..evaluation.plots import lr_find_curves
    from ..files import write_bytes_atomic, write_json_atomic
    from ..training.lr_find import LRFindConfig, lr_range_test

    cfg = train_config(args)
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


def _add_runner_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, default=1, metavar="K",
                   help="run K trials at once in local worker processes, threads split between them (default 1)")
    p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="run the trials on Ray: a local instance without ADDRESS, else the cluster at ADDRESS")
    p.add_argument("--threads", type=int, metavar="T",
                   help="intra-op threads per trial (default: this machine's threads / K); the same T gives "
                        "bit-identical results in-process, in workers and on Ray")
    add_quiet_option(p)


def register(sub) -> None:
    """Add this module's commands to the `digitlab` parser."""
    p = add_command(sub, "study",
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

    p = add_command(sub, "cv",
                    description="Stratified k-fold cross-validation on the 60k training images: every fold is "
                                "held out once; prints each fold's final validation accuracy and mean ± std.")
    add_train_options(p)
    p.add_argument("--folds", type=int, default=10, help="number of folds (default 10)")
    p.add_argument("--out", help="output directory (default runs/cv)")
    _add_runner_options(p)
    p.set_defaults(func=cmd_cv)

    p = add_command(sub, "search",
                    description="Every combination of the --param values (or the axes of a study), each "
                                "cross-validated; prints a table ranked like scikit-learn's cv_results_.")
    p.add_argument("--param", action="append", metavar="KEY=V1,V2",
                   help="a setting and its values, e.g. batch_size=32,64 (repeatable); keys are train settings")
    p.add_argument("--study", help="search the axes of a study file instead (e.g. ann-grid)")
    add_train_options(p)
    p.add_argument("--folds", type=int, default=3, help="folds per combination (default 3)")
    p.add_argument("--out", help="output directory (default runs/search)")
    _add_runner_options(p)
    p.set_defaults(func=cmd_search)

    p = add_command(sub, "lr-find",
                    description="Train while the learning rate grows exponentially; plot the smoothed loss "
                                "against it and suggest the rate where it falls fastest.")
    add_train_options(p)
    p.add_argument("--min-lr", type=float, default=1e-6, help="start of the sweep (default 1e-6)")
    p.add_argument("--max-lr", type=float, default=100.0, help="end of the sweep (default 100)")
    p.add_argument("--steps", type=int, default=200, help="steps in the sweep (default 200)")
    p.add_argument("--out", default="runs/lr-find", help="where lr_find.json and lr_find.png go (default runs/lr-find)")
    p.set_defaults(func=cmd_lr_find)
