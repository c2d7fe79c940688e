"""Reading ensembles: several runs of one recipe with different seeds, read as one model.

An ensemble is a directory holding `ensemble.json` and one ordinary run per member
(`seed-0/`, `seed-1/`, ...); there is no second checkpoint format. `ensemble.json`
names the members' checkpoints and whether predictions are averaged over shifted
views too (test-time augmentation). Training writes it (training/ensemble.py); this
module reads it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import DigitlabError
from ..files import read_json
from ..models.averaged import AveragedModel
from ..models.inference import place_model
from .checkpoint import Checkpoint, load_checkpoint

FORMAT = "digitlab.ensemble"
MANIFEST = "ensemble.json"


@dataclass
class Ensemble:
    checkpoints: list[Checkpoint]
    tta: bool
    path: Path


def is_ensemble(path: str | Path) -> bool:
    return (Path(path) / MANIFEST).is_file()


def read_manifest(path: str | Path) -> dict:
    path = Path(path)
    manifest = read_json(path / MANIFEST, "an ensemble", "ensemble")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not manifest.get("members"):
        raise DigitlabError(f"{path / MANIFEST} is not a digitlab ensemble (format is not {FORMAT!r} or no members)")
    for m in manifest["members"]:
        for key in ("run", "checkpoint"):
            if not isinstance(m.get(key), str) or Path(m[key]).is_absolute() or ".." in Path(m[key]).parts:
                raise DigitlabError(f"ensemble {path}: member {key} {m.get(key)!r} must be a path inside it")
    return manifest


def load_ensemble(path: str | Path, device="cpu") -> Ensemble:
    path = Path(path)
    manifest = read_manifest(path)
    missing = [m["checkpoint"] for m in manifest["members"] if not (path / m["checkpoint"]).is_dir()]
    if missing:
        raise DigitlabError(f"ensemble {path} is not fully trained: {', '.join(missing)} missing; "
                            f"continue it with: digitlab train --resume {path}")
    checkpoints = [load_checkpoint(path / m["checkpoint"], device) for m in manifest["members"]]
    return Ensemble(checkpoints, bool(manifest.get("tta")), path)


def load_reader(path: str | Path, device="cpu") -> Checkpoint:
    """A checkpoint, or an ensemble directory as one Checkpoint whose model averages the
    members (models.averaged): what predict, serve, export and compare read.

    It carries the first member's spec and training config (the members share the
    validation images its "not a digit" threshold is calibrated on, cached in the ensemble's
    directory) and, as its weights' SHA-256, one over the members' and the TTA setting."""
    if not is_ensemble(path):
        return load_checkpoint(path, device)
    ensemble = load_ensemble(path, device)
    first = ensemble.checkpoints[0]
    key = hashlib.sha256(" ".join([f"tta={ensemble.tta}"] + [c.meta.get("weights_sha256") or "" for c in
                                                               ensemble.checkpoints]).encode()).hexdigest()
    name = read_manifest(path).get("name") or Path(path).name
    meta = {**first.meta, "metrics": {}, "history": [], "weights_sha256": key,
            "ensemble": {"name": name, "members": [str(c.path) for c in ensemble.checkpoints], "tta": ensemble.tta,
                         "parameters": sum(c.parameters for c in ensemble.checkpoints)}}
    model = place_model(AveragedModel([c.model for c in ensemble.checkpoints], ensemble.tta), device).eval()
    return Checkpoint(model=model, model_spec=replace(first.model_spec, name=name), meta=meta, path=Path(path))
