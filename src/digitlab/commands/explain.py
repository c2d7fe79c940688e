"""`digitlab explain`: what each layer of a model saw in an image, as PNG files and JSON."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..errors import DigitlabError
from .common import add_command
from .predict import DEFAULT_MODEL, load_predictor


def cmd_explain(args) -> int:
    from ..explain import explain_image
    from ..explain.image import NoSuchDigit
    from ..explain.write import check_explanation_dir, write_explanation
    from ..recognition.preprocess import ImageError, decode_image

    check_explanation_dir(args.out)  # before loading anything
    try:
        data = Path(args.image).read_bytes()
    except OSError as e:
        raise DigitlabError(f"cannot read {args.image}: {e.strerror or e}") from None
    predictor = load_predictor(args.model, args)
    try:
        reading, network, explained = explain_image(predictor, decode_image(data),
                                                    None if args.digit is None else args.digit - 1)
    except NoSuchDigit as e:
        raise DigitlabError(f"{args.image}: --digit {args.digit}, but the image has {e.count} digit(s)"
                            + (f": choose 1 to {e.count}" if e.count else "")) from None
    except ImageError as e:
        raise DigitlabError(f"{args.image}: {e}") from None
    out = write_explanation({**replace(reading, file=args.image).to_json(), "network": network}, explained, args.out)
    if reading.number is None:
        print(f"{args.image}: {reading.reason}")
    else:
        print(f"{args.image}: read {reading.number}" + (f" (rejected: {reading.reason})" if reading.rejected else ""))
    for i, explanation in sorted(explained.items()):
        a = explanation.attribution
        print(f"  digit {i + 1}: {explanation.digit} at p={explanation.probabilities[explanation.digit]:.3f}; "
              f"{len(explanation.layers)} layers; attribution sums to {a.values.sum():+.3f} "
              f"(log p {a.blank_log_prob:.3f} on a blank page -> {a.log_prob:.3f})")
    print(f"wrote {out}/explanation.json and {sum(1 for _ in out.rglob('*.png'))} PNG files")
    return 0


def register(sub) -> None:
    """Add `explain` to the `digitlab` parser."""
    p = add_command(sub, "explain",
                    description="Read the image as `predict` does, then for each digit read write a picture of "
                                "every layer's output in the model's order (feature maps in a grid on one colour "
                                "scale per layer: white 0, red positive, blue negative; at most 64 maps, the most "
                                "active; dense layers as rows of cells), an integrated-gradients attribution over "
                                "the input (red pushed toward the digit read, blue against), and "
                                "explanation.json with every number.")
    p.add_argument("image", metavar="IMAGE", help="PNG, JPEG, WebP or GIF: a digit or a number")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"checkpoint directory (default {DEFAULT_MODEL})")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output directory (new, empty, or an earlier explanation, which is replaced)")
    p.add_argument("--digit", type=int, metavar="N", help="explain only the N-th digit read, 1 the leftmost (default: all)")
    p.add_argument("--device", help="cpu or cuda[:N]")
    p.set_defaults(func=cmd_explain, runtime="torch")
