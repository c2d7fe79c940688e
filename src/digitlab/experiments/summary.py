"""What a study found: per-variant summaries, a verdict, scikit-learn-style CV results,
and the files `digitlab study report` writes (plots, summary.md, summary.csv)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from ..files import write_bytes_atomic
from .study import Study


def _mean_history(histories: list[list[dict]]) -> list[dict]:
    """Per-epoch mean over folds/seeds of every numeric field."""
    epochs = min(len(h) for h in histories)
    keys = ("loss", "accuracy", "val_loss", "val_accuracy", "seconds")
    return [{"epoch": e + 1, **{k: float(np.mean([h[e][k] for h in histories])) for k in keys}}
            for e in range(epochs)]


def variant_summaries(rows: list[dict]) -> list[dict]:
    """One entry per variant, in study order: mean curves and the figures of the summary table.

    With folds, `scores` are the final validation accuracies of the folds (what
    cross_val_score returns) and the curves are their means."""
    by_variant: dict[str, list[dict]] = {}
    for row in rows:
        by_variant.setdefault(row["variant"], []).append(row)
    out = []
    for variant, members in by_variant.items():
        entry = {"variant": variant, "params": members[0]["params"], "trials": len(members),
                 "seconds": float(sum(r["seconds"] for r in members))}
        if members[0]["kind"] == "lr-find":
            entry["lr_find"] = members[0]["lr_find"]
            entry["suggested_lr"] = float(np.median([r["lr_find"]["suggested_lr"] for r in members]))
        else:
            history = _mean_history([r["history"] for r in members])
            best = max(range(len(history)), key=lambda i: history[i]["val_accuracy"])
            scores = [r["final_val_accuracy"] for r in members]
            entry.update(history=history, best_epoch=best + 1, best_val_accuracy=history[best]["val_accuracy"],
                         final_val_accuracy=history[-1]["val_accuracy"],
                         gap=history[-1]["accuracy"] - history[-1]["val_accuracy"],
                         scores=scores, mean_score=float(np.mean(scores)), std_score=float(np.std(scores)))
        out.append(entry)
    return out


def verdict(summaries: list[dict]) -> str:
    if "lr_find" in summaries[0]:
        return "suggested learning rates: " + ", ".join(f"{s['variant']} {s['suggested_lr']:.3g}" for s in summaries)
    best = max(summaries, key=lambda s: s["best_val_accuracy"])
    runner_up = sorted((s["best_val_accuracy"] for s in summaries), reverse=True)[1:2]
    margin = f", {best['best_val_accuracy'] - runner_up[0]:+.4f} over the next" if runner_up else ""
    return (f"best: {best['variant']} (validation accuracy {best['best_val_accuracy']:.4f} at epoch "
            f"{best['best_epoch']}{margin})")


def cv_results(summaries: list[dict]) -> dict[str, list]:
    """Columns in the shape of scikit-learn's GridSearchCV.cv_results_ (scores are
    validation accuracies of the held-out folds)."""
    order = sorted(range(len(summaries)), key=lambda i: -summaries[i]["mean_score"])
    rank = [0] * len(summaries)
    for r, i in enumerate(order, 1):
        rank[i] = r
    columns: dict[str, list] = {
        "params": [s["params"] for s in summaries],
        "mean_test_score": [s["mean_score"] for s in summaries],
        "std_test_score": [s["std_score"] for s in summaries],
        "rank_test_score": rank,
        "mean_fit_time": [s["seconds"] / s["trials"] for s in summaries],
    }
    for k in range(max(len(s["scores"]) for s in summaries)):
        columns[f"split{k}_test_score"] = [s["scores"][k] if k < len(s["scores"]) else None for s in summaries]
    return columns


def format_cv_results(columns: dict[str, list]) -> str:
    order = sorted(range(len(columns["params"])), key=lambda i: columns["rank_test_score"][i])
    lines = [f"{'rank':>4}  {'mean':>7}  {'std':>7}  {'fit s':>7}  params"]
    for i in order:
        params = ", ".join(f"{k}={v}" for k, v in columns["params"][i].items()) or "base"
        lines.append(f"{columns['rank_test_score'][i]:>4}  {columns['mean_test_score'][i]:>7.4f}  "
                     f"{columns['std_test_score'][i]:>7.4f}  {columns['mean_fit_time'][i]:>7.1f}  {params}")
    return "\n".join(lines)


# --- files --------------------------------------------------------------------------------

_COLUMNS = ["variant", "best_epoch", "final_val_accuracy", "best_val_accuracy", "gap", "seconds"]


def _table_rows(summaries: list[dict]) -> list[list]:
    if "lr_find" in summaries[0]:
        return [[s["variant"], f"{s['suggested_lr']:.3g}", f"{s['seconds']:.1f}"] for s in summaries]
    return [[s["variant"], s["best_epoch"], f"{s['final_val_accuracy']:.4f}", f"{s['best_val_accuracy']:.4f}",
             f"{s['gap']:+.4f}", f"{s['seconds']:.1f}"] for s in summaries]


def _header(summaries: list[dict]) -> list[str]:
    return ["variant", "suggested_lr", "seconds"] if "lr_find" in summaries[0] else _COLUMNS


def summary_markdown(study: Study, summaries: list[dict], note: str) -> str:
    header = _header(summaries)
    lines = [f"# Study {study.name}", "", study.description, ""]
    if study.finding:
        lines += [f"The report: {study.finding}.", ""]
    lines += [note, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in _table_rows(summaries)]
    if study.folds and "lr_find" not in summaries[0]:
        lines += ["", f"{study.folds}-fold cross-validation: mean ± std of the held-out folds' final accuracy", ""]
        lines += [f"- {s['variant']}: {s['mean_score']:.4f} ± {s['std_score']:.4f}" for s in summaries]
    gap_note = "" if "lr_find" in summaries[0] else " (gap: final train accuracy minus final validation accuracy)"
    lines += ["", f"**Verdict** — {verdict(summaries)}{gap_note}", ""]
    return "\n".join(lines)


def summary_csv(summaries: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(_header(summaries))
    writer.writerows(_table_rows(summaries))
    return buf.getvalue()


def write_study_report(study: Study, rows: list[dict], out: str | Path, note: str = "") -> list[Path]:
    """Write OUT/summary.md, OUT/summary.csv and the plot; return their paths."""
    from ..evaluation import plots

    out = Path(out)
    summaries = variant_summaries(rows)
    if "lr_find" in summaries[0]:
        png_name, png = "lr_find.png", plots.lr_find_curves({s["variant"]: s["lr_find"] for s in summaries})
    else:
        png_name, png = "curves.png", plots.training_curves({s["variant"]: s["history"] for s in summaries})
    files = {png_name: png, "summary.md": summary_markdown(study, summaries, note).encode(),
             "summary.csv": summary_csv(summaries).encode()}
    for name, data in files.items():
        write_bytes_atomic(out / name, data)
    return [out / name for name in files]
