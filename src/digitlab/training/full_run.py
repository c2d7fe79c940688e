"""Everything a run's reading path needs, trained in order, with its progress in
RUN/progress.json (runs/progress.py): what `make run` trains behind the page.

1. the classifier: the `default` recipe into RUN (RUN/best, RUN/last), resumed where an
   earlier run stopped, skipped when complete;
2. its "not a digit" calibration (RUN/best/rejection.json), so a server that switches to it
   does not compute it on its request path;
3. the group judge (RUN/groups).

A quick stand-in (`quick_model`: the `fast` recipe, one epoch, into RUN/quick) is what a
server reads with until RUN/best is better; `is_complete` says whether there is anything
left to train.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..device import pick_device
from ..errors import DigitlabError
from ..recognition.group_judge import GROUPS_DIR, beside as judge_beside
from ..runs.checkpoint import read_meta
from ..runs.progress import write_progress
from .config import TrainConfig, recipe

if TYPE_CHECKING:
    from .groups import GroupsConfig

RECIPE = "default"
QUICK_RECIPE = "fast"
QUICK_DIR = "quick"  # RUN/quick/best: the stand-in
STAGES = ["classifier", "calibration", "group judge"]


def _epochs_done(run: Path) -> int:
    try:
        return len(read_meta(run / "last").get("history") or [])
    except DigitlabError:
        return 0


def is_complete(run: str | Path, cfg: TrainConfig | None = None) -> bool:
    """The classifier trained to its last epoch and the group judge beside it."""
    run = Path(run)
    cfg = cfg or recipe(RECIPE)
    return _epochs_done(run) >= cfg.epochs and (run / "best" / "model.json").exists() \
        and judge_beside(run / "best") is not None


def quick_model(run: str | Path, progress: bool = True, log: Callable[[str], None] = print) -> Path:
    """RUN/quick/best, trained now (seconds) unless it is there."""
    from .trainer import train

    out = Path(run) / QUICK_DIR
    if not (out / "best" / "model.json").exists():
        train(recipe(QUICK_RECIPE), out, progress=progress, log=log)
    return out / "best"


def train_full_run(run: str | Path, device: str | None = None, progress: bool = True,
                   log: Callable[[str], None] = print, cfg: TrainConfig | None = None,
                   groups: "GroupsConfig | None" = None) -> Path:
    """Train what is missing of the run, stage by stage, writing its progress; returns RUN/best.
    A stage that raises writes "failed" with the reason, and the error goes on. `cfg` and
    `groups` replace the `default` recipe and the judge's defaults (tests train small ones)."""
    from ..recognition.rejection import rejection_threshold
    from ..runs.checkpoint import load_checkpoint
    from .groups import GroupsConfig, train_group_judge
    from .trainer import train

    run = Path(run)
    cfg = cfg or recipe(RECIPE)
    groups = groups or GroupsConfig()
    stage = STAGES[0]
    try:
        done = _epochs_done(run)
        if done < cfg.epochs:
            write_progress(run, stage, STAGES, done, cfg.epochs, "epochs")
            train(cfg, run, resume=done > 0, device=device, progress=progress, log=log,
                  on_epoch_end=lambda r: write_progress(run, stage, STAGES, r["epoch"], cfg.epochs, "epochs",
                                                        f"val accuracy {r['val_accuracy']:.4f}"))
        stage = STAGES[1]
        write_progress(run, stage, STAGES)
        dev = pick_device(device)
        threshold = rejection_threshold(load_checkpoint(run / "best", dev), dev)["threshold"]
        log(f"'not a digit' threshold {threshold:.3f}")
        stage = STAGES[2]
        if judge_beside(run / "best") is None:
            write_progress(run, stage, STAGES, 0, groups.epochs, "epochs", "drawing its examples")
            train_group_judge(run / "best", run / GROUPS_DIR, groups, device=device, progress=progress, log=log,
                              on_epoch_end=lambda r: write_progress(run, stage, STAGES, r["epoch"], groups.epochs,
                                                                    "epochs",
                                                                    f"val accuracy {r['val_accuracy']:.4f}"))
    except BaseException as e:
        write_progress(run, "failed", STAGES, detail=f"{stage}: {e or type(e).__name__}")
        raise
    write_progress(run, "done", STAGES)
    return run / "best"
