"""Several checkpoints side by side: test accuracy, loss, calibration, size and
robustness, and their training curves overlaid."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import DigitlabError
from ..files import atomic_dir, check_output_dir
from . import plots
from .report import ROBUSTNESS_IMAGES, Evaluation, evaluate
from .robustness import family_means


def comparison_row(e: Evaluation) -> dict:
    return {"checkpoint": str(e.checkpoint.path), "model": e.checkpoint.name, "accuracy": e.metrics["accuracy"],
            "loss": e.metrics["loss"], "ece": e.metrics["ece"], "parameters": e.checkpoint.parameters,
            "robustness": family_means(e.robustness)}


def compare(paths: list[str | Path], out: str | Path, device: str | None = None,
            robustness_images: int = ROBUSTNESS_IMAGES) -> list[dict]:
    """Evaluate every checkpoint, then write OUT/compare.json and OUT/training_curves.png."""
    if len(paths) < 2:
        raise DigitlabError("compare needs at least two checkpoints")
    out = check_output_dir(out, "the comparison", "compare.json")
    evaluations = [evaluate(p, device=device, robustness_images=robustness_images, open_set=False) for p in paths]
    rows = [comparison_row(e) for e in evaluations]
    # Two checkpoints of one run share a model name; the path tells them apart.
    histories = {str(e.checkpoint.path): e.checkpoint.meta.get("history") or [] for e in evaluations}
    curves = plots.training_curves(histories)
    try:
        with atomic_dir(out) as tmp:
            (tmp / "compare.json").write_text(json.dumps(rows, indent=2) + "\n")
            (tmp / "training_curves.png").write_bytes(curves)
    except OSError as e:
        raise DigitlabError(f"cannot write the comparison to {out}: {e.strerror or e}") from None
    return rows


def format_comparison(rows: list[dict]) -> str:
    families = list(rows[0]["robustness"])
    header = ["checkpoint", "accuracy", "loss", "ECE", "params"] + [f"{f}" for f in families]
    table = [[r["checkpoint"], f"{r['accuracy']:.4f}", f"{r['loss']:.4f}", f"{r['ece']:.4f}", f"{r['parameters']:,}"]
             + [f"{r['robustness'][f]:.4f}" for f in families] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *table)]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in table]
                     + ["(robustness columns: mean test accuracy over the altered levels of each transform)"])
