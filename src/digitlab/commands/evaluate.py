"""`digitlab evaluate` (accuracy, the report, open set, numbers) and `digitlab compare`."""

from __future__ import annotations

import time
from pathlib import Path

from ..errors import DigitlabError
from .common import add_command, print_json
from .reader_options import add_reader_options, reader_choices


# --- evaluate -------------------------------------------------------------------------------

READING_PATH_FILE = "reading_path.json"  # beside open_set.json: the open set read through the whole path


def _evaluate_open_set(args) -> int:
    from ..device import pick_device
    from ..evaluation.open_set import OPEN_SET_FILES, format_open_set, open_set_evaluation, write_open_set
    from ..evaluation.reading_path import format_reading_path, reading_path_evaluation, reading_path_json
    from ..files import check_output_dir, write_json_atomic
    from ..recognition.predictor import Predictor
    from ..runs.checkpoint import load_checkpoint
    from ..runs.ensemble import is_ensemble

    if is_ensemble(args.checkpoint) or args.tta:
        raise DigitlabError("--open-set scores one checkpoint without --tta")
    out = Path(args.out) if args.out else Path(args.checkpoint) / "open-set"
    check_output_dir(out, "the open-set evaluation", OPEN_SET_FILES[0])  # refuse a bad target before the work
    dev = pick_device(args.device)
    result = open_set_evaluation(load_checkpoint(args.checkpoint, dev), dev, split=args.split,
                                 per_family=args.per_family)
    write_open_set(result, out)
    path = None
    if args.split == "test":  # the product's figures: drawings read as `predict` reads them
        predictor = Predictor.load(args.checkpoint, args.device, **reader_choices(args))
        path = reading_path_evaluation(predictor, args.per_family)
        write_json_atomic(out / READING_PATH_FILE, reading_path_json(path))
    if args.json:
        print_json({**result.to_json(), **({"reading_path": reading_path_json(path)} if path else {})})
        return 0
    print(format_open_set(result))
    if path:
        print(format_reading_path(path))
    print("written: " + ", ".join(str(out / name) for name in OPEN_SET_FILES + ((READING_PATH_FILE,) if path else ())))
    return 0


def _evaluate_numbers(args) -> int:
    from ..evaluation.numbers import format_numbers, numbers_evaluation
    from ..recognition.predictor import Predictor
    from ..runs.ensemble import is_ensemble

    if is_ensemble(args.checkpoint) or args.tta or args.open_set or args.report or args.out:
        raise DigitlabError("--numbers reads generated numbers with one checkpoint; it takes no --tta, --open-set, "
                            "--report or --out")
    if args.count < 10:
        raise DigitlabError(f"--count {args.count}: read at least 10 numbers")
    predictor = Predictor.load(args.checkpoint, args.device, **reader_choices(args))
    result = numbers_evaluation(predictor, split=args.split, n=args.count)
    if args.json:
        print_json(result.to_json())
    else:
        print(format_numbers(result))
    return 0


def _evaluate_writers(args) -> int:
    from ..evaluation.writers import check_writers, format_writers
    from ..recognition.predictor import Predictor

    if args.tta or args.open_set or args.report or args.out or args.split != "test":
        raise DigitlabError("--writers reads the other-writers images with the model as served; it takes no --tta, "
                            "--open-set, --report, --out or --split")
    if args.per_family < 10:
        raise DigitlabError(f"--per-family {args.per_family}: read at least 10 images of each family")
    predictor = Predictor.load(args.checkpoint, args.device, **reader_choices(args))
    result = check_writers(predictor, args.per_family)
    if args.json:
        print_json(result)
    else:
        print(format_writers(result))
    return 0


def cmd_evaluate(args) -> int:
    t0 = time.perf_counter()
    if args.numbers and args.writers:
        raise DigitlabError("give --numbers or --writers, not both")
    if args.numbers:
        return _evaluate_numbers(args)
    if args.writers:
        return _evaluate_writers(args)
    if args.open_set and not args.report:
        return _evaluate_open_set(args)
    if args.out:
        raise DigitlabError("--out is where --open-set alone writes its files; a report (with its open-set "
                            "section) goes to --report DIR")
    if args.report:
        from ..evaluation.report import check_report_dir, evaluate, report_text, write_report
        from ..runs.ensemble import is_ensemble

        if is_ensemble(args.checkpoint) or args.tta or args.split != "test":
            raise DigitlabError("--report covers one checkpoint on the test set, without --tta or --split val; "
                                "drop --report to score an ensemble or the validation images")
        check_report_dir(args.report)  # refuse a bad target before the work, not after
        evaluation = evaluate(args.checkpoint, device=args.device, robustness_images=args.robustness_images,
                              per_family=args.per_family)
        metrics = {**{k: evaluation.metrics[k] for k in ("accuracy", "loss", "n")}, "split": "test", "tta": False}
        if not args.json:
            print(report_text(evaluation))
        write_report(evaluation, args.report)
    else:
        from ..evaluation import evaluate_checkpoint

        metrics = evaluate_checkpoint(args.checkpoint, device=args.device, split=args.split, tta=args.tta)
    if args.json:
        print_json(metrics)
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
    from ..evaluation.compare import compare, format_comparison

    rows = compare(args.checkpoints, args.out, device=args.device, robustness_images=args.robustness_images)
    print(format_comparison(rows))
    print(f"written: {Path(args.out) / 'compare.json'}, {Path(args.out) / 'training_curves.png'}")
    return 0


def register(sub) -> None:
    """Add this module's commands to the `digitlab` parser."""
    from ..data.negatives import PER_FAMILY
    from ..evaluation.numbers import NUMBERS
    from ..evaluation.robustness import ROBUSTNESS_IMAGES

    p = add_command(sub, "evaluate",
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
                        "FPR at 95%% TPR and share rejected; digits (clean and degraded) rejected; then (on the test "
                        "split) drawings of MNIST digits and of each family read through the whole reading path, as "
                        "predict reads them (at most 200 of each): rejected, and read as several digits; files into "
                        "--out. A --report always has the classifier's part as a section")
    p.add_argument("--out", metavar="DIR", help="where --open-set writes open_set.json, open_set_scores.png, "
                                                 "open_set_accepted.png and reading_path.json (default CKPT/open-set)")
    p.add_argument("--per-family", type=int, default=PER_FAMILY, metavar="N",
                   help=f"non-digits per family for --open-set and a --report's open-set section, images per "
                        f"family for --writers (default {PER_FAMILY})")
    p.add_argument("--numbers", action="store_true",
                   help="read generated numbers of 3-5 digits (made from the split's digits) whose digits stand apart, "
                        "touch or overlap: whole-number and digit accuracy by gap and by length, with and without "
                        "splitting touching digits, and single digits")
    p.add_argument("--writers", action="store_true",
                   help="read digits, numbers (spaced and as written) and letters rendered from three Debian "
                        "handwriting fonts never trained on (fonts-humor-sans, fonts-ecolier-court, fonts-havana), "
                        "through the whole reading path: per family and font the share read right, rejected and "
                        "read as several digits; --per-family of each (100 is a quick look)")
    p.add_argument("--count", type=int, default=NUMBERS, metavar="N",
                   help=f"numbers to read with --numbers (default {NUMBERS})")
    add_reader_options(p)
    p.add_argument("--json", action="store_true", help='print {"accuracy", "loss", "n", "split", "tta"} (and "members" '
                                                        'for an ensemble); with --open-set or --numbers, their figures')
    p.add_argument("--device", help="cpu or cuda[:N]")
    p.set_defaults(func=cmd_evaluate)

    p = add_command(sub, "compare",
                    description="Accuracy, loss, calibration error, parameters and robustness of several "
                                "checkpoints in one table; their training curves overlaid in one figure.")
    p.add_argument("checkpoints", nargs="+", metavar="CKPT", help="two or more checkpoint or ensemble directories")
    p.add_argument("--out", default="runs/compare", help="directory for compare.json and training_curves.png "
                                                         "(default runs/compare)")
    p.add_argument("--robustness-images", type=int, default=ROBUSTNESS_IMAGES, metavar="N",
                   help=f"test images transformed for the robustness columns (default {ROBUSTNESS_IMAGES})")
    p.add_argument("--device", help="cpu or cuda[:N]")
    p.set_defaults(func=cmd_compare)
