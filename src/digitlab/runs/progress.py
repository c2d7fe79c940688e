"""What a run is training now, in one small file beside its checkpoints
(RUN/progress.json), kept by the process that trains the run (training/full_run.py) and
read by the server (`/api/model`'s "training") and anyone watching:

{"state": "training", "detail": "", "updated": 1764460000.0,
 "stages": {"classifier": {"state": "training", "done": 3, "total": 6, "unit": "epochs",
                           "detail": "val accuracy 0.9912"},
            "calibration": {"state": "waiting", ...}, "group judge": {"state": "training", ...}}}

A stage's state is "waiting", "training" or "done"; the run's is "training", "done", or
"failed" (with the reason in "detail").
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from ..files import write_json_atomic

PROGRESS_FILE = "progress.json"


class Progress:
    """The run's progress file, written whole on every change (stages may report from
    several threads)."""

    def __init__(self, run: str | Path, stages: list[str]):
        self.path = Path(run) / PROGRESS_FILE
        self.state, self.detail = "training", ""
        self.stages = {name: {"state": "waiting", "done": 0, "total": 0, "unit": "", "detail": ""} for name in stages}
        self._lock = threading.Lock()
        self._write()

    def update(self, stage: str, **fields) -> None:
        """Change a stage's fields (state, done, total, unit, detail)."""
        with self._lock:
            self.stages[stage].update(fields)
            self._write()

    def finish(self, state: str = "done", detail: str = "") -> None:
        with self._lock:
            self.state, self.detail = state, detail
            self._write()

    def _write(self) -> None:
        write_json_atomic(self.path, {"state": self.state, "detail": self.detail, "updated": time.time(),
                                      "stages": self.stages})


def read_progress(run: str | Path) -> dict | None:
    """The run's progress, or None where it has none (or an unreadable one: it is advice only)."""
    try:
        found = json.loads((Path(run) / PROGRESS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None
