"""report.html: one self-contained page (figures embedded as data URIs, styles inline)
that any browser opens from disk, without a server or a network."""

from __future__ import annotations

import base64
import html
import json
import time

from .robustness import LEVEL_UNITS

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; padding: 0 1rem; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2rem; margin-top: 2.2rem; }
table { border-collapse: collapse; margin: 0.6rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f3f3f3; } td.l, th.l { text-align: left; }
.cards { display: flex; gap: 1rem; flex-wrap: wrap; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.6rem 1rem; min-width: 9rem; }
.card b { display: block; font-size: 1.5rem; }
figure { margin: 1rem 0; } figure img { max-width: 100%; border: 1px solid #eee; }
pre { background: #f6f6f6; padding: 0.8rem; overflow-x: auto; font-size: 0.85rem; }
.muted { color: #666; font-size: 0.9rem; }
"""

_CAPTIONS = {
    "confusion_matrix.png": "Confusion matrix: counts, and each row divided by the number of test images of that digit.",
    "roc.png": "ROC curve of each digit against the other nine, with its area under the curve.",
    "roc_zoom.png": "The top-left corner of the ROC curves, where good classifiers differ.",
    "precision_recall.png": "Precision-recall curve of each digit, with its average precision.",
    "precision_recall_zoom.png": "The top-right corner of the precision-recall curves.",
    "training_curves.png": "Loss and accuracy per epoch from the checkpoint's history: train dashed, validation solid.",
    "confident_mistakes.png": "The test digits the model got wrong with the highest confidence.",
    "reliability.png": "Reliability diagram: accuracy against confidence; bars on the diagonal are well calibrated.",
    "robustness.png": "Accuracy on transformed test digits.",
    "open_set_scores.png": "Digit score of digits and of held-out non-digits, with the rejection threshold.",
    "open_set_accepted.png": "The most digit-like held-out non-digits of each family; red ones are let through.",
}


def _e(value) -> str:
    return html.escape(str(value))


def _table(header: list[str], rows: list[list], left: int = 1) -> str:
    head = "".join(f'<th class="{"l" if i < left else ""}">{_e(h)}</th>' for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f'<td class="{"l" if i < left else ""}">{_e(v)}</td>' for i, v in enumerate(r))
                   + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _figure(name: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img alt="{_e(name)}" src="data:image/png;base64,{data}">'
            f"<figcaption class=muted>{_e(_CAPTIONS.get(name, name))}</figcaption></figure>")


def render_html(evaluation, metrics: dict, images: dict[str, bytes], report_text: str) -> str:
    m, summary = metrics, evaluation.summary
    per_class = [[c, f"{r['precision']:.4f}", f"{r['recall']:.4f}", f"{r['f1-score']:.4f}", int(r["support"]),
                  _fmt(m["roc_auc"][c], 5), _fmt(m["average_precision"][c], 5)]
                 for c, r in m["per_class"].items()]
    robustness = [[r["family"], r["level"], f"{r['accuracy']:.4f}"] for r in m["robustness"]]
    layers = [[f"{r['layer']} [{r['token']}]", "(None, " + ", ".join(map(str, r["output_shape"])) + ")",
               f"{r['params']:,}"] for r in summary["layers"]]
    units = "; ".join(f"{k}: {v}" for k, v in LEVEL_UNITS.items() if v)
    cards = [("test accuracy", f"{m['accuracy']:.2%}"), ("test loss", f"{m['loss']:.4f}"),
             ("macro F1", f"{m['macro']['f1-score']:.4f}"), ("ECE (15 bins)", f"{m['ece']:.4f}"),
             ("test images", f"{m['n']:,}"), ("parameters", f"{summary['total_params']:,}")]
    checksum_note = ("matches the checkpoint's" if m["dataset_sha256"] == m["checkpoint_dataset_sha256"]
                     else f"the checkpoint was trained on data with checksum {m['checkpoint_dataset_sha256']}")
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>digitlab evaluation: {_e(m['model']['name'])}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Evaluation of {_e(m['model']['name'])}</h1>",
        f"<p class=muted>checkpoint {_e(m['checkpoint'])} &middot; written {_e(time.strftime('%Y-%m-%d %H:%M'))} "
        f"&middot; MNIST test set, {m['n']:,} images</p>",
        '<div class="cards">' + "".join(f'<div class="card">{_e(k)}<b>{_e(v)}</b></div>' for k, v in cards) + "</div>",
        "<h2>Classification report</h2>", f"<pre>{_e(report_text)}</pre>",
        _table(["digit", "precision", "recall", "F1", "support", "ROC AUC", "average precision"], per_class),
        "<h2>Confusion matrix</h2>", _figure("confusion_matrix.png", images["confusion_matrix.png"]),
        "<h2>ROC and precision-recall curves</h2>",
        *(_figure(n, images[n]) for n in ("roc.png", "roc_zoom.png", "precision_recall.png",
                                         "precision_recall_zoom.png")),
        "<h2>Training</h2>", _figure("training_curves.png", images["training_curves.png"]),
        "<h2>Where the model is wrong</h2>", _figure("confident_mistakes.png", images["confident_mistakes.png"]),
        "<h2>Calibration</h2>",
        f"<p>Expected calibration error over 15 equal-width confidence bins: <b>{m['ece']:.4f}</b>.</p>",
        _figure("reliability.png", images["reliability.png"]),
        "<h2>Robustness</h2>",
        f"<p>Accuracy on {m['robustness_images']:,} test images (stratified, fixed) after each transform, "
        f"predicted in {_e(m['robustness_precision'])}. "
        f"Levels: {_e(units)}.</p>",
        _table(["transform", "level", "accuracy"], robustness, left=2),
        _figure("robustness.png", images["robustness.png"]),
        *_open_set_section(m.get("open_set"), images),
        "<h2>Model</h2>", f"<p>spec <code>{_e(summary['spec'])}</code></p>",
        _table(["layer", "output shape", "parameters"], layers),
        f"<p>Total {summary['total_params']:,} &middot; trainable {summary['trainable_params']:,} &middot; "
        f"non-trainable {summary['non_trainable_params']:,}</p>",
        "<h2>Training configuration</h2>", f"<pre>{_e(json.dumps(m['train_config'], indent=2))}</pre>",
        "<h2>Data</h2>", f"<p>MNIST checksum <code>{_e(m['dataset_sha256'])}</code> ({_e(checksum_note)}).</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


def _open_set_section(o: dict | None, images: dict[str, bytes]) -> list[str]:
    if not o:
        return []
    digits = [[name, d["n"], f"{d['rejected']:.2%}", f"{d['accuracy']:.2%}"] for name, d in o["digits"].items()]
    families = [[name, f["n"], f"{f['rejected']:.2%}", f"{f['auroc']:.4f}", f"{f['fpr_at_95_tpr']:.2%}"]
                for name, f in o["non_digits"].items()]
    return [
        "<h2>Not a digit: open-set evaluation</h2>",
        f"<p>Score: the {_e(o['score'])}; a shape scoring below <b>{o['threshold']:.4f}</b> is said not to be a digit "
        "(the threshold calibrated on the run's own validation digits). Non-digits are the held-out part of "
        "digitlab's generator: fonts and random streams never trained on.</p>",
        _table(["digits", "n", "rejected", "accuracy"], digits),
        _table(["non-digits", "n", "rejected", "AUROC", "FPR at 95% TPR"], families),
        "<p class=muted>" + _e("; ".join(f"{k}: {v}" for k, v in o["degradations"].items())) + "</p>",
        *(_figure(n, images[n]) for n in ("open_set_scores.png", "open_set_accepted.png") if n in images),
    ]


def _fmt(value, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"
