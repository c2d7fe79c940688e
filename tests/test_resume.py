"""What survives a stop: a run resumed is the run that was never stopped (a small one, and
a `default` run with non-digits, degraded digits and batch norm re-estimated, resumed by
`train --resume`); a checkpoint write killed with SIGKILL leaves a whole checkpoint; a full
run killed while its group judge trains trains only the judge when started again."""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from conftest import run_cli
from test_training import _tiny
from digitlab.data.negatives import NegativesConfig
from digitlab.recognition.group_judge import GROUPS_DIR
from digitlab.runs.checkpoint import load_checkpoint, read_meta, save_checkpoint
from digitlab.runs.progress import read_progress
from digitlab.training.config import recipe
from digitlab.training.full_run import is_complete, train_full_run
from digitlab.training.trainer import train

QUIET = dict(progress=False, log=lambda s: None)
HERE = Path(__file__).resolve().parent


class Killed(Exception):
    pass


def _stop_after_first(record):
    if record["epoch"] == 1:
        raise Killed


def _weights(path):
    return load_checkpoint(path).model.state_dict()


def _without_timings(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("seconds", "samples_per_second")} for r in history]


def assert_resumed_run_is_the_whole_one(cfg, tmp_path, resume) -> None:
    """Train `cfg` whole, and again stopped after its first epoch and resumed by `resume(run)`:
    the same history (timings aside) and every tensor of the last checkpoint equal."""
    whole = train(cfg, tmp_path / "whole", **QUIET)
    with pytest.raises(Killed):
        train(cfg, tmp_path / "cut", on_epoch_end=_stop_after_first, **QUIET)
    assert len(json.loads((tmp_path / "cut" / "history.json").read_text())) == 1
    resume(tmp_path / "cut")
    history = json.loads((tmp_path / "cut" / "history.json").read_text())
    assert _without_timings(history) == _without_timings(whole.history) and len(history) == cfg.epochs
    a, b = _weights(tmp_path / "whole" / "last"), _weights(tmp_path / "cut" / "last")
    assert all(torch.equal(a[k], b[k]) for k in a)  # batch-norm statistics included


def test_resume_equals_an_uninterrupted_run(tmp_path):
    cfg = _tiny()
    assert_resumed_run_is_the_whole_one(cfg, tmp_path, lambda run: train(cfg, run, resume=True, **QUIET))


def test_train_resume_of_the_default_recipe_is_the_run_that_never_stopped(tmp_path):
    cfg = recipe("default", subset=1500, epochs=2, val_size=500, negatives=NegativesConfig(bank=600))
    assert cfg.negatives is not None and cfg.degrade is not None  # what makes `default` itself

    def resume_through_the_cli(run):
        proc = run_cli("train", "--resume", run, "--quiet")
        assert proc.returncode == 0, proc.stderr

    assert_resumed_run_is_the_whole_one(cfg, tmp_path, resume_through_the_cli)


@pytest.mark.parametrize("stage", ["weights", "swap"])
def test_a_checkpoint_write_killed_at_any_moment_leaves_a_whole_checkpoint(trained, tmp_path, stage):
    """SIGKILL half-way through the new weights file, and just after the first rename of the
    swap: the checkpoint at the path still loads (its weights match their SHA-256), the old
    one or the new one, and the next save there works."""
    path = tmp_path / "best"
    old = load_checkpoint(trained.best)
    save_checkpoint(path, old.model, old.model_spec, train_config=old.meta["train_config"])
    before = read_meta(path)["weights_sha256"]
    writer = subprocess.Popen([sys.executable, str(HERE / "checkpoint_writer.py"), str(path), stage],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        said = writer.stdout.readline().strip()
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
    # killed half-way through the weights; in the swap where it has a moment between two
    # renames ("stopped"), or after a swap made in one step ("done")
    assert said == "stopped" if stage == "weights" else said in ("stopped", "done"), writer.stderr.read()
    survivor = load_checkpoint(path)  # raises on a missing directory or weights that do not match
    if stage == "weights":
        assert survivor.meta["weights_sha256"] == before
    save_checkpoint(path, old.model, old.model_spec, train_config=old.meta["train_config"])
    assert load_checkpoint(path).meta["weights_sha256"] == before


FULL_RUN = """
import sys
from dataclasses import replace
from digitlab.training.config import recipe
from digitlab.training.full_run import train_full_run
from digitlab.training.groups import GroupsConfig
cfg = replace(recipe("default", subset=1000, epochs=2), negatives=None, degrade=None)
train_full_run(sys.argv[1], progress=False, log=lambda s: None, cfg=cfg,
               groups=GroupsConfig(ones=600, several=400, nots=600, epochs=3, val_groups=60))
"""


def test_a_full_run_killed_while_its_judge_trains_trains_only_the_judge_again(tmp_path):
    from digitlab.training.groups import GroupsConfig

    run = tmp_path / "run"
    child = subprocess.Popen([sys.executable, "-c", FULL_RUN, str(run)], stderr=subprocess.PIPE, text=True)
    deadline, judged = time.time() + 240, None
    try:
        while time.time() < deadline and child.poll() is None:
            found = read_progress(run) or {}
            judged = found.get("stages", {}).get("group judge", {})
            if judged.get("state") == "training" and judged.get("done", 0) >= 1:
                break
            time.sleep(0.02)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert judged and judged.get("done", 0) >= 1, (judged, child.stderr.read()[-2000:])
    assert not (run / GROUPS_DIR / "model.json").exists()  # killed before the judge was written
    classifier = read_meta(run / "best")["weights_sha256"]

    cfg = replace(recipe("default", subset=1000, epochs=2), negatives=None, degrade=None)
    seen = []
    train_full_run(run, progress=False, log=seen.append, cfg=cfg,
                   groups=GroupsConfig(ones=600, several=400, nots=600, epochs=3, val_groups=60))
    epochs = [line for line in seen if line.startswith("epoch")]
    assert len(epochs) == 3, seen  # the judge's three; the classifier is not trained again
    assert read_meta(run / "best")["weights_sha256"] == classifier
    assert (run / GROUPS_DIR / "model.json").exists() and is_complete(run, cfg)
    assert read_progress(run)["state"] == "done"
