"""`digitlab predict` and `export`: reading image files with a checkpoint, and the model as ONNX."""

from __future__ import annotations

from pathlib import Path

from ..errors import DigitlabError
from .common import add_command, print_json
from .reader_options import add_reader_options, reader_choices

DEFAULT_MODEL = "runs/default/best"  # what `make run` trains


def load_predictor(path: str, args, warm: bool = False):
    """The predictor a reading command asked for; not warmed up unless asked (a server warms
    its own in each worker; a command reading a few files gains nothing from it)."""
    from ..recognition.predictor import Predictor

    if not Path(path).exists() and path == DEFAULT_MODEL:
        raise DigitlabError(f"no model at {DEFAULT_MODEL}: run `make run` (or `digitlab train --out runs/default`) "
                            "first, or pass --model CKPT")
    return Predictor.load(path, device=args.device, runtime=args.runtime, **reader_choices(args), warm=warm)


def cmd_predict(args) -> int:
    from dataclasses import replace

    from ..recognition.preprocess import ImageError

    predictor = load_predictor(args.model, args)
    results, failed = [], 0
    for name in args.images:
        try:
            data = Path(name).read_bytes()
            result = replace(predictor.read(data), file=name).to_json()
        except OSError as e:
            result, failed = {"file": name, "error": f"cannot read {name}: {e.strerror or e}"}, failed + 1
        except ImageError as e:
            result, failed = {"file": name, "error": str(e)}, failed + 1
        results.append(result)
        if not args.json:
            print(describe_result(result))
    if args.json:
        print_json(results if len(results) > 1 else results[0])
    return 2 if failed else 0


def describe_result(result: dict) -> str:
    """One line for an image: its number with each digit's confidence, or why there is none."""
    name = result["file"]
    if "error" in result:
        return f"{name}: error: {result['error']}"
    if result["number"] is None:
        return f"{name}: {result['reason']}"
    confidences = " ".join(f"{d['digit']}:{d['confidence']:.3f}" for d in result["digits"])
    flag = f"  (rejected: {result['reason']})" if result["rejected"] else ""
    return f"{name}: {result['number']}  [{confidences}]{flag}"


def cmd_export(args) -> int:
    from ..recognition.onnx_export import TOLERANCE, export_onnx
    from ..runs.ensemble import load_reader

    difference = export_onnx(load_reader(args.checkpoint), args.onnx)  # an ensemble: one graph
    print(f"wrote {args.onnx}: ONNX Runtime matches PyTorch within {difference:.2e} (max abs logit difference; "
          f"tolerance {TOLERANCE:g})")
    return 0


def reading_fields() -> str:
    """The fields of a reading, from the one reading type (recognition/reading.py)."""
    from dataclasses import MISSING, fields

    from ..recognition.reading import DigitReading, Reading

    digit = ", ".join(f'"{f.name}"' for f in fields(DigitReading) if f.default is MISSING)  # always present
    return "{" + ", ".join(f'"digits": [{{{digit}}}]' if f.name == "digits" else f'"{f.name}"'
                           for f in fields(Reading)) + "}"


def register(sub) -> None:
    """Add `predict` and `export` to the `digitlab` parser."""
    p = add_command(sub, "predict",
                    description="Each image (PNG, JPEG, WebP, GIF; dark ink on light paper or the reverse) is "
                                "normalized the way MNIST was made, split into digits left to right and read; "
                                "a shape the model is not confident about is reported as rejected.")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help=f"checkpoint directory or ensemble directory (default {DEFAULT_MODEL})")
    p.add_argument("--json", action="store_true",
                   help="print each image's reading as JSON, as the API answers it: " + reading_fields())
    p.add_argument("--device", help="cpu or cuda[:N]")
    p.add_argument("--runtime", choices=["torch", "onnx"], default="torch",
                   help="run the model with PyTorch (default) or ONNX Runtime (exported once, kept as model.onnx)")
    add_reader_options(p)
    p.set_defaults(func=cmd_predict, quick_exit=True)  # it leaves nothing to clean up: cli.program


    p = add_command(sub, "export",
                    description="Write the model as ONNX (raw pixels in, logits out, dynamic batch) and print "
                                "the largest difference between ONNX Runtime's and PyTorch's logits.")
    p.add_argument("checkpoint", help="checkpoint directory, or an ensemble directory (exported as one graph that "
                                      "averages its members' probabilities and returns their log)")
    p.add_argument("--onnx", required=True, metavar="OUT", help="where to write the .onnx file")
    p.set_defaults(func=cmd_export)
