"""The evaluation figures, each rendered to PNG bytes with matplotlib's Agg backend
(no window, no display needed). scikit-learn's displays draw the confusion matrix,
ROC and precision-recall curves."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import (ConfusionMatrixDisplay, PrecisionRecallDisplay, RocCurveDisplay,  # noqa: E402
                             auc, average_precision_score, precision_recall_curve, roc_curve)

from .robustness import LEVEL_UNITS  # noqa: E402

DPI = 100


def _subplots(*args, **kwargs):
    """Figures laid out by the constrained engine, so saving needs no second "tight" render."""
    return plt.subplots(*args, layout="constrained", **kwargs)


def _mosaic(pictures: list[list[np.ndarray]], captions: list[list[tuple[str, str]]], cell: tuple[float, float],
            left: float = 0.1):
    """Rows of 28 x 28 pictures drawn as one image, each with a caption (text, colour) above
    it, `cell` inches per picture, right of a `left` margin and under a title of half an inch.
    One image, not an axis per picture: matplotlib lays out and draws a hundred axes in
    seconds (3.9 s for 12 x 8 with the constrained engine), one in a tenth of that."""
    rows, cols = len(pictures), max((len(r) for r in pictures), default=1) or 1
    side, gap_x, gap_y = 28, 6, 14  # pixels of a picture, between pictures, above each for its caption
    canvas = np.zeros((rows * (side + gap_y), cols * (side + gap_x)), np.uint8)
    for r, row in enumerate(pictures):
        for c, picture in enumerate(row):
            y, x = r * (side + gap_y) + gap_y, c * (side + gap_x)
            canvas[y:y + side, x:x + side] = picture
    width, height = left + cols * cell[0] + 0.1, rows * cell[1] + 0.6
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((left / width, 0.1 / height, 1 - (left + 0.1) / width, 1 - 0.7 / height))
    ax.imshow(canvas, cmap="gray_r", vmin=0, vmax=255, interpolation="nearest", aspect="auto")
    ax.axis("off")
    for r, row in enumerate(captions):
        for c, (text, colour) in enumerate(row):
            ax.text(c * (side + gap_x) + side / 2, r * (side + gap_y) + gap_y - 2, text, ha="center", va="bottom",
                    fontsize=7, color=colour)
    return fig, ax


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)  # layouts are constrained: no second "tight" render
    plt.close(fig)
    return buf.getvalue()


def confusion_matrices(cm: list[list[int]]) -> bytes:
    """Counts and row-normalized (recall per true class) side by side, annotated."""
    counts = np.asarray(cm)
    rows = counts.sum(1, keepdims=True)
    normalized = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
    fig, axes = _subplots(1, 2, figsize=(15, 6.5))
    ConfusionMatrixDisplay(counts, display_labels=range(10)).plot(ax=axes[0], cmap="Blues", values_format="d",
                                                                 colorbar=False)
    axes[0].set_title("Confusion matrix (counts)")
    ConfusionMatrixDisplay(normalized, display_labels=range(10)).plot(ax=axes[1], cmap="Blues",
                                                                     values_format=".3f", colorbar=False)
    axes[1].set_title("Row-normalized (share of each true digit)")
    for ax in axes:
        for text in ax.texts:
            text.set_fontsize(8)
    return _png(fig)


def _per_class(probs: np.ndarray, labels: np.ndarray, kind: str) -> list:
    displays = []
    for c in range(10):
        truth = labels == c
        if not truth.any() or truth.all():
            continue
        # The area goes into the name: the displays' own labels round it to 2 decimals,
        # which reads 1.00 for every digit of a good model.
        if kind == "roc":
            fpr, tpr, _ = roc_curve(truth, probs[:, c])
            displays.append(RocCurveDisplay(fpr=fpr, tpr=tpr, name=f"digit {c} (AUC {auc(fpr, tpr):.5f})"))
        else:
            precision, recall, _ = precision_recall_curve(truth, probs[:, c])
            ap = average_precision_score(truth, probs[:, c])
            displays.append(PrecisionRecallDisplay(precision=precision, recall=recall, name=f"digit {c} (AP {ap:.5f})"))
    return displays


def _curves(displays: list, title: str, zoom: tuple | None) -> bytes:
    fig, ax = _subplots(figsize=(7.5, 6.5))
    colors = plt.get_cmap("tab10")
    for i, d in enumerate(displays):
        d.plot(ax=ax, curve_kwargs={"color": colors(i), "linewidth": 1.2})
    if zoom:
        ax.set_xlim(*zoom[0])
        ax.set_ylim(*zoom[1])
    ax.set_title(title)
    ax.legend(loc="lower right" if "ROC" in title else "lower left", fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def roc_curves(probs: np.ndarray, labels: np.ndarray) -> tuple[bytes, bytes]:
    """All ten one-vs-rest ROC curves with AUC in the legend, and the top-left corner."""
    displays = _per_class(probs, labels, "roc")
    return (_curves(displays, "ROC curves, one digit against the rest", None),
            _curves(displays, "ROC curves, top-left corner", ((0.0, 0.05), (0.95, 1.0))))


def pr_curves(probs: np.ndarray, labels: np.ndarray) -> tuple[bytes, bytes]:
    """All ten precision-recall curves with average precision, and the top-right corner."""
    displays = _per_class(probs, labels, "pr")
    return (_curves(displays, "Precision-recall curves", None),
            _curves(displays, "Precision-recall curves, top-right corner", ((0.95, 1.0), (0.95, 1.0))))


def training_curves(histories: dict[str, list[dict]]) -> bytes:
    """Loss and accuracy per epoch, train dashed and validation solid, one colour per run."""
    fig, axes = _subplots(1, 2, figsize=(13, 4.8))
    colors = plt.get_cmap("tab10")
    for i, (name, history) in enumerate(histories.items()):
        epochs = [r["epoch"] for r in history]
        for ax, key in zip(axes, ("loss", "accuracy")):
            ax.plot(epochs, [r[key] for r in history], "--", color=colors(i % 10), label=f"{name} train")
            ax.plot(epochs, [r[f"val_{key}"] for r in history], "-", color=colors(i % 10), label=f"{name} validation")
    for ax, key in zip(axes, ("loss", "accuracy")):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.set_title(f"{key} per epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8 if len(histories) <= 10 else 5, ncol=1 if len(histories) <= 10 else 3)
    if not any(histories.values()):
        for ax in axes:
            ax.text(0.5, 0.5, "no training history in the checkpoint", ha="center", transform=ax.transAxes)
    return _png(fig)


def confident_mistakes(images: np.ndarray, labels: np.ndarray, probs: np.ndarray, count: int = 24) -> bytes:
    """The wrong predictions made with the highest confidence: image, truth, prediction, confidence."""
    predicted = probs.argmax(1)
    wrong = np.flatnonzero(predicted != labels)
    order = wrong[np.argsort(-probs[wrong, predicted[wrong]], kind="stable")][:count]
    cols = 8
    chunks = [order[k:k + cols] for k in range(0, len(order), cols)] or [[]]
    fig, ax = _mosaic([[images[i] for i in chunk] for chunk in chunks],
                      [[(f"true {labels[i]} → {predicted[i]}, {probs[i, predicted[i]]:.1%}", "black") for i in chunk]
                       for chunk in chunks], (1.6, 1.9))
    if not len(order):
        ax.text(0.5, 0.5, "no mistakes", fontsize=12, transform=ax.transAxes, ha="center")
    fig.suptitle("Most confidently wrong test digits")
    return _png(fig)


def reliability_diagram(bins: list[dict], ece: float) -> bytes:
    """Accuracy against confidence per bin, with the share of predictions in each bin."""
    fig, (ax, hist) = _subplots(2, 1, figsize=(6, 7), height_ratios=[3, 1], sharex=True)
    width = bins[0]["hi"] - bins[0]["lo"]
    filled = [b for b in bins if b["count"]]
    ax.bar([b["lo"] for b in filled], [b["accuracy"] for b in filled], width=width, align="edge",
           edgecolor="black", color="tab:blue", alpha=0.8, label="accuracy")
    ax.bar([b["lo"] for b in filled], [b["confidence"] - b["accuracy"] for b in filled], width=width,
           bottom=[b["accuracy"] for b in filled], align="edge", color="none", edgecolor="tab:red", hatch="//",
           label="gap to mean confidence")
    ax.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Reliability diagram (ECE {ece:.4f}, {len(bins)} bins)")
    ax.legend(loc="upper left", fontsize=8)
    total = sum(b["count"] for b in bins)
    hist.bar([b["lo"] for b in bins], [b["count"] / total for b in bins], width=width, align="edge",
             edgecolor="black", color="gray")
    hist.set_yscale("log")
    hist.set_xlabel("confidence (top-class probability)")
    hist.set_ylabel("share")
    return _png(fig)


def robustness(rows: list[dict]) -> bytes:
    """Accuracy against the strength of each transform, one panel per family."""
    families = list(dict.fromkeys(r["family"] for r in rows))
    fig, axes = _subplots(1, len(families), figsize=(3.2 * len(families), 3.6), sharey=True, squeeze=False)
    for ax, family in zip(axes[0], families):
        members = [r for r in rows if r["family"] == family]
        xs = [str(r["level"]) for r in members]
        ax.plot(xs, [r["accuracy"] for r in members], "o-")
        ax.set_title(family)
        ax.set_xlabel(LEVEL_UNITS.get(family, ""), fontsize=8)
        ax.tick_params(axis="x", labelsize=8, rotation=30)
        ax.grid(alpha=0.3)
        ax.set_ylim(0, 1.02)
    axes[0, 0].set_ylabel("test accuracy")
    fig.suptitle("Accuracy on transformed test digits")
    return _png(fig)


def lr_find_curves(curves: dict[str, dict]) -> bytes:
    """Smoothed loss against learning rate (log scale) per sweep, the suggested rate marked."""
    fig, ax = _subplots(figsize=(8, 5))
    colors = plt.get_cmap("tab10")
    top = 0.0
    for i, (name, c) in enumerate(curves.items()):
        ax.plot(c["lrs"], c["smoothed"], color=colors(i % 10), label=f"{name} (suggested {c['suggested_lr']:.2g})")
        j = c["lrs"].index(c["suggested_lr"])
        ax.plot([c["suggested_lr"]], [c["smoothed"][j]], "o", color=colors(i % 10))
        top = max(top, c["smoothed"][0])
    ax.set_xscale("log")
    ax.set_ylim(0, top * 1.5 if top else None)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("smoothed training loss")
    ax.set_title("Learning-rate range test")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _png(fig)


def open_set_histogram(digits: dict[str, np.ndarray], non_digits: dict[str, np.ndarray], threshold: float) -> bytes:
    """Digit score of digits (each set) and of non-digits (each family), with the threshold.
    The score (top probability, 0.1 to 1) crowds at both ends, so the axis is its log-odds."""
    def axis(s):
        s = np.clip(np.asarray(s, dtype=np.float64), 1e-7, 1 - 1e-7)
        return np.log10(s / (1 - s))

    bins = np.linspace(-1, 7, 65)
    fig, (top, bottom) = _subplots(2, 1, figsize=(9, 7), sharex=True)
    for ax, groups, title in ((top, digits, "digits (accepted right of the line)"),
                              (bottom, non_digits, "non-digits (rejected left of the line)")):
        for name, s in groups.items():
            ax.hist(axis(s), bins=bins, histtype="step", linewidth=1.5, label=f"{name} (n={len(s)})",
                    weights=np.full(len(s), 1 / max(len(s), 1)))
        ax.axvline(axis([threshold])[0], color="k", linestyle="--", label=f"threshold {threshold:.4f}")
        ax.set_yscale("log")
        ax.set_ylabel("share of the set")
        ax.set_title(title)
        ax.legend(fontsize=8, ncol=2)
    bottom.set_xlabel("digit score as log10(p / (1 - p)), p the top probability: right is more digit-like")
    return _png(fig)


def accepted_non_digits(images: dict[str, np.ndarray], scores: dict[str, np.ndarray], threshold: float,
                        per_family: int = 8) -> bytes:
    """The most digit-like non-digits of each family, marked when the threshold lets them through."""
    pictures, captions = [], []
    for family, found in images.items():
        order = np.argsort(-scores[family], kind="stable")[:per_family]
        accepted = scores[family][order] >= threshold
        pictures.append([found[i] for i in order])
        captions.append([(f"{scores[family][i]:.3f}{' accepted' if a else ''}", "crimson" if a else "black")
                         for i, a in zip(order, accepted)])
    fig, ax = _mosaic(pictures, captions, (1.3, 1.5), left=1.5)
    for r, family in enumerate(images):
        ax.text(-4, r * 42 + 28, family, ha="right", va="center", fontsize=9)
    fig.suptitle("Most digit-like non-digits per family (top probability; red: accepted as digits)")
    return _png(fig)
