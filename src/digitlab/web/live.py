"""Live model swaps: a served checkpoint directory that changes is verified and swapped in,
between requests, with no restart.

A model served from a `Source` is watched (every `--watch` seconds, in each worker): when
the checkpoint's `model.json`, or its group judge's or line reader's, is written again (a
training run improving RUN/best, `finetune --out` replacing it, the group judge appearing
beside it), the worker loads it beside the model it serves: the weights are checked against
their SHA-256 (runs/checkpoint.py), its "not a digit" calibration is read or made, and it
reads a few drawings. Only then does the worker's slot point at it. A request takes its model
from the slot once, as it starts, so a request in flight finishes on the model it started
with, and no answer mixes two models. A checkpoint that fails any check (half written,
corrupt, not a classifier) is refused: the old model keeps serving, a warning is logged and
`digitlab_model_swaps_total{outcome="refused"}` counts it; the same files are not tried again
until they change.

A stand-in (`serve --standin`, `make run`'s quick model) is served while the checkpoint is
missing, or less accurate on validation than the stand-in.

While a run is training the checkpoint (RUN/progress.json says "training") and its "not a
digit" calibration is not yet written for these weights, the swap waits for the run to write
it: the server does not calibrate each epoch's best on the cores the training needs (in
`make run` that cost the classifier 16 s over its 6 epochs). A checkpoint no run is training
(`finetune --out`, a finished `train`) is calibrated on loading, as before.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import DigitlabError
from ..recognition.group_judge import GROUPS_DIR
from ..recognition.line_reader import LINES_DIR
from ..recognition.predictor import Predictor
from ..recognition.rejection import CALIBRATION
from ..runs.checkpoint import META, read_meta
from ..runs.progress import read_progress

log = logging.getLogger("digitlab.web")
# the checkpoint's own model.json, then those of what reads with it (its run's group judge and line reader)
WATCHED = (META, f"../{GROUPS_DIR}/{META}", f"../{LINES_DIR}/{META}")


@dataclass(frozen=True)
class Source:
    path: Path  # the checkpoint served, e.g. runs/default/best
    load: Callable[[Path], Predictor]  # a checkpoint path -> its predictor (line reader and judge beside it)
    standin: Path | None = None  # served while `path` is missing or less accurate

    def first(self) -> Path:
        """What to load as the server starts."""
        if self.standin is None or (self.path / "model.json").exists() and not self.standin_better():
            return self.path
        return self.standin

    def standin_better(self) -> bool:
        return self.standin is not None and _val_accuracy(self.standin) > _val_accuracy(self.path)

    def awaits_calibration(self) -> bool:
        """Whether the checkpoint's run is training and has not yet calibrated these weights."""
        if (read_progress(self.path.parent) or {}).get("state") != "training":
            return False
        try:
            key = read_meta(self.path).get("weights_sha256")
            saved = json.loads((self.path / CALIBRATION).read_text())
        except (DigitlabError, OSError, ValueError):
            return True
        return not isinstance(saved, dict) or saved.get("weights_sha256") != key


def _val_accuracy(path: Path) -> float:
    try:
        value = (read_meta(path).get("metrics") or {}).get("val_accuracy")
    except DigitlabError:
        return -1.0
    return float(value) if isinstance(value, (int, float)) else -1.0


def signature(path: Path) -> tuple | None:
    """What changes when the checkpoint, or what reads with it, is written again; None while
    the checkpoint has no model.json."""
    marks = []
    for name in WATCHED:
        try:
            st = (path / name).resolve().stat()
            marks.append((st.st_ino, st.st_mtime_ns, st.st_size))
        except OSError:
            marks.append(None)
    return None if marks[0] is None else tuple(marks)


class Watcher:
    """A daemon thread that calls `check` every `interval` seconds until stopped."""

    def __init__(self, check: Callable[[], None], interval: float):
        self.check, self.interval = check, interval
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="digitlab-watch", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _loop(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                self.check()
            except Exception:  # noqa: BLE001 - a watcher that dies would stop every later swap
                log.exception("checking the served checkpoints failed")

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
