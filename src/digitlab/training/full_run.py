"""Everything a run's reading path needs, trained with its progress in RUN/progress.json
(runs/progress.py): what `make run` trains behind the page.

- the classifier: the `default` recipe into RUN (RUN/best, RUN/last), resumed where an
  earlier run stopped, skipped when complete; then its "not a digit" calibration
  (RUN/best/rejection.json), so a server that switches to it does not compute it on its
  request path;
- the group judge (RUN/groups), at the same time, in a process of its own: it needs the
  classifier's split, not its weights, and two trainings on half the cores each finish
  sooner than one after the other (a 2-core CPU runs one training's epoch only about 1.4
  times faster on two threads than on one).

A quick stand-in (`quick_model`: the `fast` recipe, one epoch, into RUN/quick) is what a
server reads with until RUN/best is better; `is_complete` says whether anything is left.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import torch

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


def quick_model(run: str | Path, progress: bool = True, log: Callable[[str], None] = print) -> Path:
    """RUN/quick/best, trained now (seconds) unless it is there."""
    from .trainer import train

    out = Path(run) / QUICK_DIR
    if not (out / "best" / "model.json").exists():
        train(recipe(QUICK_RECIPE), out, progress=progress, log=log)
    return out / "best"


def _train_judge(run: Path, groups: "GroupsConfig", train_config: dict, device: str | None, threads: int,
                 messages) -> None:
    """The group judge's stage, in its own process: every line and epoch goes to `messages`."""
    from .groups import train_group_judge

    torch.set_num_threads(threads)
    try:
        train_group_judge(run / "best", run / GROUPS_DIR, groups, device=device, progress=False,
                          log=lambda line: messages.put(("log", line)),
                          on_epoch_end=lambda record: messages.put(("epoch", record)), train_config=train_config)
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which raises it
        messages.put(("failed", f"{type(e).__name__}: {e}"))
        return
    messages.put(("done", None))


class _JudgeStage:
    """The group judge training in a child process, its messages relayed into the progress
    and the log by a thread."""

    def __init__(self, run: Path, groups: "GroupsConfig", train_config: dict, device: str | None, threads: int,
                 progress: Progress, log: Callable[[str], None]):
        context = multiprocessing.get_context("spawn")
        self.messages = context.Queue()
        self.outcome: tuple[str, str | None] = ("failed", "it stopped without a word")
        self.process = context.Process(target=_train_judge, name="digitlab-group-judge",
                                       args=(run, groups, train_config, device, threads, self.messages))
        progress.update("group judge", state="training", total=groups.epochs, unit="epochs",
                        detail="drawing its examples")
        self.process.start()
        self.relay = threading.Thread(target=self._relay, args=(progress, groups.epochs, log), daemon=True)
        self.relay.start()

    def _relay(self, progress: Progress, epochs: int, log: Callable[[str], None]) -> None:
        while True:
            try:
                kind, body = self.messages.get(timeout=1.0)
            except Exception:  # noqa: BLE001 - queue.Empty: see whether the child is gone
                if not self.process.is_alive():
                    return
                continue
            if kind == "log":
                log(f"group judge: {body}")
            elif kind == "epoch":
                progress.update("group judge", done=body["epoch"], detail=f"val accuracy {body['val_accuracy']:.4f}")
            else:
                self.outcome = (kind, body)
                return

    def wait(self) -> None:
        self.relay.join()
        self.process.join()
        if self.outcome[0] != "done":
            raise DigitlabError(f"the group judge failed: {self.outcome[1]}")

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(10)


def train_full_run(run: str | Path, device: str | None = None, progress: bool = True,
                   log: Callable[[str], None] = print, cfg: TrainConfig | None = None,
                   groups: "GroupsConfig | None" = None) -> Path:
    """Train what is missing of the run, writing its progress; returns RUN/best. A stage that
    raises marks the run "failed" with the reason, and the error goes on. `cfg` and `groups`
    replace the `default` recipe and the judge's defaults (tests train small ones)."""
    from ..recognition.rejection import rejection_threshold
    from ..runs.checkpoint import load_checkpoint
    from .groups import GroupsConfig
    from .trainer import train

    run = Path(run)
    run.mkdir(parents=True, exist_ok=True)
    cfg = cfg or recipe(RECIPE)
    groups = groups or GroupsConfig()
    state = Progress(run, STAGES)
    judge = None
    stage = STAGES[0]
    threads = torch.get_num_threads()
    try:
        if judge_beside(run / "best") is None:
            half = max(1, (os.cpu_count() or 1) // 2)
            judge = _JudgeStage(run, groups, cfg.to_json(), device, half, state, log)
            torch.set_num_threads(half)
        else:
            state.update("group judge", state="done")
        done = _epochs_done(run)
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
        if judge is not None:
            judge.wait()
            state.update(stage, state="done", detail="")
    except BaseException as e:
        if judge is not None:
            judge.stop()
        state.finish("failed", f"{stage}: {e or type(e).__name__}")
        raise
    finally:
        torch.set_num_threads(threads)
    state.finish("done")
    return run / "best"
