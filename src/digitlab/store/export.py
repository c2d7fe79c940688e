"""The stored samples as files: PNG images plus a CSV, or IDX files like MNIST's.

PNG+CSV: `NNNNNN.png` (the 28x28 input, white ink on black as MNIST), `drawn/NNNNNN.<ext>`
(the drawing as sent) and `samples.csv` (one row each). IDX: `samples-images-idx3-ubyte`
and `samples-labels-idx1-ubyte`, label 10 meaning "not a digit". The directory is
written whole or not at all, and only replaces an earlier export.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.idx import encode_idx
from ..files import atomic_dir, check_output_dir
from .labels import label_name
from .sample_store import Sample

FORMATS = ("png", "idx")
CSV_FILE = "samples.csv"
IDX_FILES = ("samples-images-idx3-ubyte", "samples-labels-idx1-ubyte")
COLUMNS = ("id", "file", "drawing", "label", "label_name", "reading", "confidence", "rejected", "model",
           "weights_sha256", "created")


def _drawing_suffix(data: bytes) -> str:
    try:
        return "." + (Image.open(io.BytesIO(data)).format or "bin").lower()
    except Exception:  # noqa: BLE001 - kept as it came, whatever it is
        return ".bin"


def _write_png_csv(samples: list[Sample], out: Path) -> None:
    (out / "drawn").mkdir()
    with open(out / CSV_FILE, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for s in samples:
            name, drawn = f"{s.id:06d}.png", f"drawn/{s.id:06d}{_drawing_suffix(s.drawing)}"
            Image.fromarray(s.pixels).save(out / name)
            (out / drawn).write_bytes(s.drawing)
            writer.writerow([s.id, name, drawn, s.label, label_name(s.label), s.reading or "",
                             "" if s.confidence is None else f"{s.confidence:.4f}", int(s.rejected), s.model or "",
                             s.weights_sha256 or "", s.created.isoformat() if s.created else ""])


def _write_idx(samples: list[Sample], out: Path) -> None:
    images = np.stack([s.pixels for s in samples]) if samples else np.zeros((0, 28, 28), np.uint8)
    (out / IDX_FILES[0]).write_bytes(encode_idx(images.astype(np.uint8)))
    (out / IDX_FILES[1]).write_bytes(encode_idx(np.array([s.label for s in samples], np.uint8)))


def check_export_dir(out: str | Path, fmt: str) -> Path:
    """Refuse a bad target before reading the store (a file, someone's own directory)."""
    return check_output_dir(out, "the samples export", CSV_FILE if fmt == "png" else IDX_FILES[1])


def export_samples(samples: list[Sample], out: str | Path, fmt: str = "png") -> list[Path]:
    """Write `samples` into `out` as `fmt`; returns the files written at its top."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: choose from {', '.join(FORMATS)}")
    out = check_export_dir(out, fmt)
    with atomic_dir(out) as tmp:
        (_write_png_csv if fmt == "png" else _write_idx)(samples, tmp)
    return [out / CSV_FILE] if fmt == "png" else [out / name for name in IDX_FILES]
