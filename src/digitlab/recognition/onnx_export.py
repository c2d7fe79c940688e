"""A checkpoint as an ONNX model, checked against PyTorch, and run with ONNX Runtime.

The exported graph takes raw pixels (float32 N x 1 x 28 x 28, 0..255) like the
PyTorch model, normalization included, and returns 10 logits; the batch size is
dynamic. Export is checked on random and real-looking inputs: the largest
absolute difference of the logits must stay under `TOLERANCE`.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import DigitlabError
from ..files import atomic_path
from ..runs.checkpoint import Checkpoint

TOLERANCE = 1e-4


def _session(path: str | Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def export_onnx(checkpoint: Checkpoint, out: str | Path) -> float:
    """Write `out` (atomically) and return the max abs logit difference ONNX Runtime vs PyTorch."""
    model = checkpoint.model.to("cpu").eval()
    # the exporter logs a warning per missing torchvision operator; digitlab uses none of them
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    example = torch.rand(2, 1, 28, 28) * 255
    out = Path(out)
    try:
        with atomic_path(out) as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(model, (example,), input_names=["images"], output_names=["logits"],
                                        dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1, max=65536)}},
                                        dynamo=True, verbose=False)
            program.save(str(tmp))
            difference = max_difference(model, tmp)
            if difference > TOLERANCE:
                raise DigitlabError(f"the ONNX export differs from PyTorch by {difference:.2e} (> {TOLERANCE:g}); "
                                    f"nothing was written to {out}")
    except OSError as e:
        raise DigitlabError(f"cannot write {out}: {e.strerror or e}") from None
    return difference


def max_difference(model: torch.nn.Module, onnx_path: str | Path) -> float:
    """Largest |logit difference| over a few batch sizes of random pixels and sparse strokes."""
    session = _session(onnx_path)
    g = torch.Generator().manual_seed(0)
    worst = 0.0
    for n in (1, 7, 64):
        noise = torch.rand(n, 1, 28, 28, generator=g) * 255
        strokes = (torch.rand(n, 1, 28, 28, generator=g) > 0.8).float() * 255
        for x in (noise, strokes):
            with torch.no_grad():
                expected = model(x).numpy()
            got = session.run(None, {"images": x.numpy()})[0]
            worst = max(worst, float(np.abs(got - expected).max()))
    return worst


class OnnxLogits:
    """Logits from an exported model: uint8 images N x 28 x 28 -> float32 N x 10."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.session = _session(path)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(images, dtype=np.float32).reshape(-1, 1, 28, 28)
        return self.session.run(None, {"images": x})[0]
