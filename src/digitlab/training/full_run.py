"""Everything a run's reading path needs, trained with its progress in RUN/progress.json
(runs/progress.py): what `make run` trains behind the page.

- the classifier: the `default` recipe into RUN (RUN/best, RUN/last), resumed where an
  earlier run stopped, skipped when complete; then its "not a digit" calibration
  (RUN/best/rejection.json), so a server that switches to it does not compute it on its
  request path;
- the group judge (RUN/groups). (Trained at the same time as the classifier, in a process
  of its own on half the cores, the run was not done sooner: 412 s against 396 s to the full
  model served in `make run`; the epochs of both took twice as long.) Its examples, though,
  are drawn while the classifier trains, in a process at the lowest priority (`_draw_ahead`):
  it takes the cycles the training leaves idle, and the judge reads them from the data cache.

A quick stand-in (`quick_model`: the `fast` recipe, one epoch, into RUN/quick) is what a
server reads with until RUN/best is better; `is_complete` says whether anything is left.
"""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..device import pick_device
from ..errors import DigitlabError
from ..recognition.group_judge import GROUPS_DIR, beside as judge_beside
from ..runs.checkpoint import read_meta
from ..runs.progress import Progress
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


def _draw_ahead(train_config: dict, groups: "GroupsConfig", drawing) -> None:
    """Draw the judge's examples into the data cache (the same call the judge makes, so the
    same arrays), at the lowest priority: the classifier training beside it keeps the cores."""
    from ..runs.split import make_split
    from .groups import judge_examples

    os.nice(19)
    split = make_split(train_config, "cpu")
    drawing.set()
    judge_examples(split, groups)


def _start_drawing_ahead(cfg: TrainConfig, groups: "GroupsConfig"):
    context = multiprocessing.get_context("spawn")
    drawing = context.Event()
    process = context.Process(target=_draw_ahead, args=(cfg.to_json(), groups, drawing), name="draw-ahead")
    process.start()
    return process, drawing


def _finish_drawing_ahead(ahead) -> None:
    """Wait for the examples drawn ahead; a process still starting (a short training) is
    stopped instead, and the judge draws them itself."""
    if ahead is None:
        return
    process, drawing = ahead
    if drawing.is_set():
        process.join()
    else:
        process.terminate()
        process.join()


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
    """Train what is missing of the run, writing its progress; returns RUN/best. A stage that
    raises marks the run "failed" with the reason, and the error goes on. `cfg` and `groups`
    replace the `default` recipe and the judge's defaults (tests train small ones)."""
    from ..recognition.rejection import rejection_threshold
    from ..runs.checkpoint import load_checkpoint
    from .groups import GroupsConfig, train_group_judge
    from .trainer import train

    run = Path(run)
    run.mkdir(parents=True, exist_ok=True)
    cfg = cfg or recipe(RECIPE)
    groups = groups or GroupsConfig()
    state = Progress(run, STAGES)
    stage = STAGES[0]
    done = _epochs_done(run)
    ahead = _start_drawing_ahead(cfg, groups) if done < cfg.epochs and judge_beside(run / "best") is None else None
    try:
        if done < cfg.epochs:
            state.update(stage, state="training", done=done, total=cfg.epochs, unit="epochs")
            train(cfg, run, resume=done > 0, device=device, progress=progress, log=log,
                  on_epoch_end=lambda r: state.update(STAGES[0], done=r["epoch"],
                                                      detail=f"val accuracy {r['val_accuracy']:.4f}"))
        state.update(stage, state="done")
        stage = STAGES[1]
        state.update(stage, state="training")
        dev = pick_device(device)
        threshold = rejection_threshold(load_checkpoint(run / "best", dev), dev)["threshold"]
        log(f"'not a digit' threshold {threshold:.3f}")
        state.update(stage, state="done")
        stage = STAGES[2]
        if judge_beside(run / "best") is None:
            state.update(stage, state="training", total=groups.epochs, unit="epochs", detail="drawing its examples")
            _finish_drawing_ahead(ahead)
            train_group_judge(run / "best", run / GROUPS_DIR, groups, device=device, progress=progress, log=log,
                              on_epoch_end=lambda r: state.update(STAGES[2], done=r["epoch"],
                                                                  detail=f"val accuracy {r['val_accuracy']:.4f}"))
        state.update(stage, state="done", detail="")
    except BaseException as e:
        state.finish("failed", f"{stage}: {e or type(e).__name__}")
        if ahead is not None and ahead[0].is_alive():
            ahead[0].terminate()
        raise
    state.finish("done")
    return run / "best"
