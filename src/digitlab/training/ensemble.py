"""Training ensembles: several runs of one recipe with different seeds, read together
(runs/ensemble.py reads them).

An ensemble is a directory holding `ensemble.json` and one ordinary run per member
(`seed-0/`, `seed-1/`, ...); there is no second checkpoint format. `ensemble.json`
names the members' checkpoints and whether predictions are averaged over shifted
views too (test-time augmentation). It is written before the first member trains,
so an interrupted ensemble resumes member by member, and each member resumes from
its own `last/` checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from ..files import write_json_atomic
from ..runs.checkpoint import read_meta
from ..runs.ensemble import FORMAT, MANIFEST, read_manifest
from .config import TrainConfig


@dataclass(frozen=True)
class EnsembleRecipe:
    recipe: str  # the members' recipe
    members: int  # trained with seeds seed, seed + 1, ...
    tta: bool  # also average over the shifted views of models.inference.TTA_SHIFTS

    def describe(self) -> str:
        return f"{self.members} x {self.recipe} (seeds 0..{self.members - 1}), test-time shifts {'on' if self.tta else 'off'}"


ENSEMBLES: dict[str, EnsembleRecipe] = {
    # Three `best` models, each also read through TTA_SHIFTS. docs/performance.md has the
    # validation figures that chose both.
    "best-ensemble": EnsembleRecipe(recipe="best", members=3, tta=True),
}


def member_configs(base: TrainConfig, members: int) -> list[TrainConfig]:
    return [replace(base, seed=base.seed + k) for k in range(members)]


def plan_ensemble(out: str | Path, name: str, base: TrainConfig, members: int, tta: bool) -> dict:
    """Write `out/ensemble.json`: the members' run directories, configs and the TTA flag."""
    out = Path(out)
    manifest = {
        "format": FORMAT,
        "name": name,
        "tta": tta,
        "members": [{"run": f"seed-{cfg.seed}", "checkpoint": f"seed-{cfg.seed}/best", "train_config": cfg.to_json()}
                    for cfg in member_configs(base, members)],
    }
    write_json_atomic(out / MANIFEST, manifest)
    return manifest


def train_ensemble(out: str | Path, train_member: Callable[[TrainConfig, Path, bool], object],
                   log: Callable[[str], None] = print) -> Path:
    """Train the members listed in `out/ensemble.json` one after another: a finished member
    is kept, a started one resumes, the rest start fresh."""
    out = Path(out)
    manifest = read_manifest(out)
    for k, member in enumerate(manifest["members"]):
        cfg = TrainConfig.from_json(member["train_config"])
        run = out / member["run"]
        started = (run / "last").exists()
        done = started and len(read_meta(run / "last").get("history", [])) >= cfg.epochs
        if done:
            log(f"member {k + 1}/{len(manifest['members'])} ({member['run']}) already trained")
            continue
        log(f"member {k + 1}/{len(manifest['members'])}: {member['run']}" + (" (resuming)" if started else ""))
        train_member(cfg, run, started)
    return out
