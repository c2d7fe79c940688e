"""`digitlab explain`'s output: one directory with explanation.json and, per digit read,
its input, a picture of every layer and the attribution, as PNG files. Written whole
or not at all (an earlier explanation in the same place is replaced)."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import DigitlabError
from ..files import atomic_dir, check_output_dir
from . import render
from .explanation import Explanation, attribution_picture, describe, layer_picture

MARKER = "explanation.json"
INPUT_ZOOM = 8


def check_explanation_dir(path: str | Path) -> Path:
    return check_output_dir(path, "the explanation", MARKER)


def write_explanation(answer: dict, explained: dict[int, Explanation], out: str | Path) -> Path:
    """`answer` as `Predictor.read` gives it, with each explained digit's layers, pictures
    (file names relative to `out`) and attribution added; returns `out`."""
    out = check_explanation_dir(out)
    answer = {**answer, "digits": [dict(d) for d in answer["digits"]]}
    pictures: dict[str, bytes] = {}
    for i, explanation in explained.items():
        folder = f"digit-{i + 1}"
        entry = describe(explanation)
        pictures[f"{folder}/input.png"] = render.png(
            (255 - explanation.image).repeat(INPUT_ZOOM, 0).repeat(INPUT_ZOOM, 1))
        for layer, shown in zip(explanation.layers, entry["layers"]):
            shown["picture"] = f"{folder}/layer-{layer.index:02d}-{layer.token.lower()}.png"
            pictures[shown["picture"]] = render.png(layer_picture(layer, shown))
        entry["attribution"]["picture"] = f"{folder}/attribution.png"
        pictures[entry["attribution"]["picture"]] = render.png(attribution_picture(explanation))
        entry["input"] = f"{folder}/input.png"
        answer["digits"][i].pop("image", None)  # the PNG data URL: the file above instead
        answer["digits"][i]["explanation"] = entry
    try:
        with atomic_dir(out) as tmp:
            for name, data in pictures.items():
                (tmp / name).parent.mkdir(exist_ok=True)
                (tmp / name).write_bytes(data)
            (tmp / MARKER).write_text(json.dumps(answer, indent=1) + "\n")
    except OSError as e:
        raise DigitlabError(f"cannot write the explanation to {out}: {e.strerror or e}") from None
    return out
