"""The one checkpoint format: a directory holding `model.json` and `weights.safetensors`.

`model.json` records the model (spec and input normalization), the training config,
metrics, history, the dataset checksum and library versions; the weights file is
checked against the SHA-256 that `model.json` records. Nothing is ever unpickled.
A `last` checkpoint also carries `trainer_state.safetensors` (optimizer moments and
random-number-generator states) so a run can resume exactly.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .. import __version__
from ..data.mnist import dataset_checksum
from ..errors import DigitlabError
from ..files import atomic_dir, read_json
from ..models.build import DigitNet
from ..models.inference import place_model
from ..models.presets import ModelSpec

FORMAT = "digitlab.checkpoint"
FORMAT_VERSION = 1
META, WEIGHTS, TRAINER_STATE = "model.json", "weights.safetensors", "trainer_state.safetensors"


@dataclass
class Checkpoint:
    model: DigitNet
    model_spec: ModelSpec
    meta: dict
    path: Path

    @property
    def name(self) -> str:
        return self.model_spec.name

    @property
    def parameters(self) -> int:
        """Keras-style parameter count; an ensemble's is its members' sum (ensemble.load_reader records it)."""
        from ..models.summary import summarize

        return self.meta.get("ensemble", {}).get("parameters") or summarize(self.model_spec)["total_params"]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_checkpoint(path: str | Path, model: torch.nn.Module, model_spec: ModelSpec, *,
                    train_config: dict | None = None, metrics: dict | None = None, history: list | None = None,
                    trainer_state: dict[str, torch.Tensor] | None = None, trainer_meta: dict | None = None) -> Path:
    """Write a checkpoint directory atomically: it appears whole, or the old one stays."""
    path = Path(path)
    with atomic_dir(path) as tmp:
        weights = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
        save_file(weights, str(tmp / WEIGHTS))
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": model_spec.to_json(),
            "train_config": train_config,
            "metrics": metrics or {},
            "history": history or [],
            "dataset_sha256": dataset_checksum(),
            "versions": {"digitlab": __version__, "torch": torch.__version__, "python": platform.python_version()},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "weights_sha256": _sha256(tmp / WEIGHTS),
        }
        if trainer_state is not None:
            save_file(trainer_state, str(tmp / TRAINER_STATE))
            meta["trainer"] = dict(trainer_meta or {}, state_sha256=_sha256(tmp / TRAINER_STATE))
        (tmp / META).write_text(json.dumps(meta, indent=2) + "\n")
    return path


def read_meta(path: str | Path) -> dict:
    """`model.json` of a checkpoint, checked for the format; clear errors otherwise."""
    path = Path(path)
    if not path.is_dir():
        raise DigitlabError(f"checkpoint {path} not found: expected a directory holding {META} and {WEIGHTS}")
    meta = read_json(path / META, "a digitlab checkpoint", "checkpoint")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DigitlabError(f"{path / META} is not a digitlab checkpoint (format is not {FORMAT!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise DigitlabError(
            f"checkpoint {path} has format version {meta.get('format_version')}; this digitlab reads {FORMAT_VERSION}"
        )
    return meta


def _load_tensors(path: Path, expected_sha: str | None, what: str) -> dict[str, torch.Tensor]:
    if not path.exists():
        raise DigitlabError(f"checkpoint {path.parent} is incomplete: {path.name} is missing")
    if expected_sha and _sha256(path) != expected_sha:
        raise DigitlabError(f"checkpoint {path.parent} is corrupt: {path.name} does not match the SHA-256 in {META}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise DigitlabError(f"checkpoint {path.parent} is corrupt: cannot read {what} ({e})") from None


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> Checkpoint:
    path = Path(path)
    meta = read_meta(path)
    try:
        m = meta["model"]
        spec = ModelSpec(name=m["name"], spec=m["spec"], scale=float(m["scale"]), shift=float(m["shift"]))
    except (KeyError, TypeError, ValueError):
        raise DigitlabError(f"checkpoint {path} is corrupt: {META} lacks a valid 'model' entry") from None
    model = spec.build()
    weights = _load_tensors(path / WEIGHTS, meta.get("weights_sha256"), "the weights")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    wrong = [f"{k} {tuple(weights[k].shape)} vs {tuple(v.shape)}"
             for k, v in expected.items() if k in weights and weights[k].shape != v.shape]
    if missing or unexpected or wrong:
        detail = "; ".join(filter(None, [
            missing and f"missing {missing[:3]}", unexpected and f"unexpected {unexpected[:3]}",
            wrong and f"shape mismatch {wrong[:3]}"]))
        raise DigitlabError(f"checkpoint {path}: weights do not match the model spec {spec.spec!r} ({detail})")
    model.load_state_dict(weights)
    model = place_model(model, device).eval()
    return Checkpoint(model=model, model_spec=spec, meta=meta, path=path)


def load_trainer_state(path: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    path = Path(path)
    meta = read_meta(path)
    if "trainer" not in meta:
        raise DigitlabError(f"checkpoint {path} holds no trainer state, so it cannot be resumed (use a run's last/)")
    return meta["trainer"], _load_tensors(path / TRAINER_STATE, meta["trainer"].get("state_sha256"), "the trainer state")
