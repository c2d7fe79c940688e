"""What a run is training now, in one small file beside its checkpoints
(RUN/progress.json), written by the trainer of the full run (training/full_run.py) and read
by the server (`/api/model`'s "training") and anyone watching.

{"stage": "classifier", "stages": ["classifier", "calibration", "group judge"], "done": 3,
 "total": 6, "unit": "epochs", "detail": "val accuracy 0.9912", "updated": 1764460000.0}

"stage" is "done" when everything is trained, "failed" (with "detail") when a stage raised.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..files import write_json_atomic

PROGRESS_FILE = "progress.json"


def write_progress(run: str | Path, stage: str, stages: list[str], done: int = 0, total: int = 0,
                   unit: str = "", detail: str = "") -> None:
    write_json_atomic(Path(run) / PROGRESS_FILE, {"stage": stage, "stages": stages, "done": done, "total": total,
                                                   "unit": unit, "detail": detail, "updated": time.time()})


def read_progress(run: str | Path) -> dict | None:
    """The run's progress, or None where it has none (or an unreadable one: it is advice only)."""
    try:
        found = json.loads((Path(run) / PROGRESS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None
