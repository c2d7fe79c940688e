"""The one checkpoint format, for every kind of network: a directory holding `model.json`
and `weights.safetensors`.

`model.json` records the network (its kind and the spec that rebuilds it), the training
config, metrics, history, the dataset checksum and library versions; the weights file is
checked against the SHA-256 that `model.json` records. Nothing is ever unpickled. A
`last` checkpoint also carries `trainer_state.safetensors` (optimizer moments and
random-number-generator states) so a run can resume exactly.

Kinds: "classifier" (a digit classifier, models.presets.ModelSpec; checkpoints written
before kinds existed have none and are classifiers), "line-reader"
(models.line_net.LineNetSpec) and "group-judge" (models.group_net.GroupNetSpec). A new kind is a spec class with `build()` and `to_json()`
and one entry in `_spec_from_json`.
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
from ..models.inference import place_model
from ..models.group_net import HEIGHT as GROUP_HEIGHT, KIND as GROUP_JUDGE, WIDTH as GROUP_WIDTH, GroupNetSpec
from ..models.line_net import HEIGHT, KIND as LINE_READER, STRIDE, LineNetSpec
from ..models.presets import ModelSpec

FORMAT = "digitlab.checkpoint"
FORMAT_VERSION = 1
META, WEIGHTS, TRAINER_STATE = "model.json", "weights.safetensors", "trainer_state.safetensors"
CLASSIFIER = "classifier"
KINDS = (CLASSIFIER, LINE_READER, GROUP_JUDGE)
Spec = ModelSpec | LineNetSpec | GroupNetSpec


@dataclass
class Checkpoint:
    model: torch.nn.Module
    model_spec: Spec
    meta: dict
    path: Path

    @property
    def kind(self) -> str:
        return checkpoint_kind(self.meta)

    @property
    def name(self) -> str:
        return self.model_spec.name

    @property
    def parameters(self) -> int:
        """Keras-style parameter count for a classifier (an ensemble's is its members' sum, which
        runs.ensemble.load_reader records); every parameter for other kinds."""
        if self.kind != CLASSIFIER:
            return sum(p.numel() for p in self.model.parameters())
        from ..models.summary import summarize

        return self.meta.get("ensemble", {}).get("parameters") or summarize(self.model_spec)["total_params"]


def checkpoint_kind(meta: dict) -> str:
    return (meta.get("model") or {}).get("kind") or CLASSIFIER


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_checkpoint(path: str | Path, model: torch.nn.Module, model_spec: Spec, *,
                    train_config: dict | None = None, metrics: dict | None = None, history: list | None = None,
                    trainer_state: dict[str, torch.Tensor] | None = None, trainer_meta: dict | None = None,
                    extra: dict | None = None) -> Path:
    """Write a checkpoint directory atomically: it appears whole, or the old one stays.
    `extra` adds top-level entries to `model.json` (a line reader records the classifier
    it was trained for)."""
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
            **(extra or {}),
            "dataset_sha256": dataset_checksum(),
            "versions": {"digitlab": __version__, "torch": torch.__version__, "python": platform.python_version()},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "weights_sha256": file_sha256(tmp / WEIGHTS),
        }
        if trainer_state is not None:
            save_file(trainer_state, str(tmp / TRAINER_STATE))
            meta["trainer"] = dict(trainer_meta or {}, state_sha256=file_sha256(tmp / TRAINER_STATE))
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


def load_tensors(path: Path, expected_sha: str | None, what: str) -> dict[str, torch.Tensor]:
    """A safetensors file of a checkpoint, checked against the SHA-256 its `model.json` records."""
    if not path.exists():
        raise DigitlabError(f"checkpoint {path.parent} is incomplete: {path.name} is missing")
    if expected_sha and file_sha256(path) != expected_sha:
        raise DigitlabError(f"checkpoint {path.parent} is corrupt: {path.name} does not match the SHA-256 in {META}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise DigitlabError(f"checkpoint {path.parent} is corrupt: cannot read {what} ({e})") from None


def _spec_from_json(path: Path, meta: dict) -> Spec:
    m = meta.get("model")
    kind = checkpoint_kind(meta) if isinstance(m, dict) else CLASSIFIER
    try:
        if kind == LINE_READER:
            spec = LineNetSpec(width=int(m["width"]), height=int(m["height"]), stride=int(m["stride"]))
        elif kind == GROUP_JUDGE:
            spec = GroupNetSpec(width=int(m["width"]), height=int(m["height"]), input_width=int(m["input_width"]))
            if (spec.height, spec.input_width) != (GROUP_HEIGHT, GROUP_WIDTH):
                raise DigitlabError(f"group judge {path} was made for {spec.height} x {spec.input_width} inputs; "
                                    f"this digitlab reads {GROUP_HEIGHT} x {GROUP_WIDTH}")
            return spec
        elif kind == CLASSIFIER:
            return ModelSpec(name=m["name"], spec=m["spec"], scale=float(m["scale"]), shift=float(m["shift"]))
        else:
            raise DigitlabError(f"checkpoint {path} holds a network of kind {kind!r}; this digitlab reads "
                                f"{', '.join(KINDS)}")
    except (KeyError, TypeError, ValueError):
        raise DigitlabError(f"checkpoint {path} is corrupt: {META} lacks a valid 'model' entry") from None
    if (spec.height, spec.stride) != (HEIGHT, STRIDE):
        raise DigitlabError(f"line reader {path} was made for inputs {spec.height} high; this digitlab reads {HEIGHT}")
    return spec


def _wrong_kind(path: Path, kind: str, want: str) -> DigitlabError:
    if want == LINE_READER:
        return DigitlabError(f"{path} is not a line reader (a digit classifier? train one with `digitlab train-lines`)")
    if want == GROUP_JUDGE:
        return DigitlabError(f"{path} is not a group judge (a {kind}? train one with `digitlab train-groups`)")
    return DigitlabError(f"{path} is a {kind}, not a digit classifier (give a run's best/ or last/ checkpoint)")


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu", kind: str = CLASSIFIER) -> Checkpoint:
    """A checkpoint of `kind`, its network rebuilt from the spec it records and its weights
    checked (SHA-256, names and shapes) before they are loaded."""
    path = Path(path)
    meta = read_meta(path)
    spec = _spec_from_json(path, meta)
    if checkpoint_kind(meta) != kind:
        raise _wrong_kind(path, checkpoint_kind(meta), kind)
    model = spec.build()
    weights = load_tensors(path / WEIGHTS, meta.get("weights_sha256"), "the weights")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    wrong = [f"{k} {tuple(weights[k].shape)} vs {tuple(v.shape)}"
             for k, v in expected.items() if k in weights and weights[k].shape != v.shape]
    if missing or unexpected or wrong:
        detail = "; ".join(filter(None, [
            missing and f"missing {missing[:3]}", unexpected and f"unexpected {unexpected[:3]}",
            wrong and f"shape mismatch {wrong[:3]}"]))
        what = spec.spec if isinstance(spec, ModelSpec) else f"{spec.name} width {spec.width}"
        raise DigitlabError(f"checkpoint {path}: weights do not match the model spec {what!r} ({detail})")
    model.load_state_dict(weights)
    model = place_model(model, device).eval()
    return Checkpoint(model=model, model_spec=spec, meta=meta, path=path)


def beside(checkpoint: str | Path, directory: str) -> Path | None:
    """A network trained to work with a run's checkpoint (<run>/DIRECTORY, e.g. the line
    reader's lines/ or the group judge's groups/), if there is one."""
    path = Path(checkpoint).parent / directory
    return path if (path / META).exists() else None


def load_trainer_state(path: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    path = Path(path)
    meta = read_meta(path)
    if "trainer" not in meta:
        raise DigitlabError(f"checkpoint {path} holds no trainer state, so it cannot be resumed (use a run's last/)")
    return meta["trainer"], load_tensors(path / TRAINER_STATE, meta["trainer"].get("state_sha256"), "the trainer state")
