"""The predictor a server answers with: loaded and warmed before the server takes traffic,
and swapped for a newer one while it serves (live.py).

Workers of `digitlab serve --workers N` accept connections on one port, so a probe of
GET /api/ready reaches one worker and says nothing of the others: a worker that
answered "not ready" while loading would still be handed real requests. So a worker
loads its model, and reads a few images with it (the first reads through PyTorch
take several times longer than the next), during its startup, before it accepts a
connection; until some worker is ready the port answers nothing, which a load
balancer's probe counts as not ready. A model that fails to load leaves the server
up, answering 503 with the reason on /api/ready and on every route that needs it.
"""

from __future__ import annotations

import io
import logging
import time
import math
from typing import Callable

from fastapi import HTTPException
from PIL import Image, ImageDraw

from ..errors import DigitlabError
from ..recognition.predictor import Predictor
from ..runs.progress import read_progress
from .live import Source, signature

log = logging.getLogger("digitlab.web")
WARM_READS = 3


def warm_up_image() -> bytes:
    """A drawn one: a stroke down a small canvas, as PNG."""
    image = Image.new("L", (64, 64), 255)
    ImageDraw.Draw(image).line([(32, 8), (30, 56)], fill=0, width=6)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _warmed(predictor: Predictor) -> Predictor:
    image = warm_up_image()
    for _ in range(WARM_READS):
        predictor.read(image)
    return predictor


class ModelSlot:
    def __init__(self, predictor: Predictor | None = None, source: Source | None = None,
                 on_swap: Callable[[str], None] = lambda outcome: None):
        self._predictor: Predictor | None = None
        self.error: str | None = None
        self.load_seconds: float | None = None
        self.source = source
        self.on_swap = on_swap
        self.serving = None  # the signature of the source's checkpoint served (None: the stand-in, or nothing)
        self.refused = None  # the signature last refused: not tried again until the files change
        if predictor is not None:
            self._warm_and_hold(predictor, time.perf_counter())

    def _warm_and_hold(self, predictor: Predictor, started: float) -> None:
        _warmed(predictor)
        self.load_seconds = time.perf_counter() - started
        self._predictor = predictor

    def load_source(self) -> None:
        """Load the source's checkpoint, or its stand-in while that is missing or worse."""
        path = self.source.first()
        mark = signature(self.source.path) if path == self.source.path else None
        self.load(lambda: self.source.load(path))
        if self._predictor is not None:
            self.serving = mark

    def refresh(self) -> str | None:
        """Swap in the source's checkpoint if it changed and passes every check: "swapped",
        "refused", or None when there was nothing to do."""
        path = self.source.path
        mark = signature(path)
        if mark is None or mark in (self.serving, self.refused):
            return None
        if self.serving is None and self._predictor is not None and self.source.standin_better():
            return None  # the stand-in stays until the checkpoint reads at least as well
        if self.source.awaits_calibration():
            return None  # its run calibrates it next (live.py)
        try:
            predictor = _warmed(self.source.load(path))
            if not math.isfinite(predictor.threshold):
                raise DigitlabError("its 'not a digit' threshold is not a number")
        except Exception as e:  # noqa: BLE001 - refused and logged; the old model keeps serving
            if signature(path) != mark:
                return None  # written again while it loaded: the next check tries the new files
            self.refused = mark
            log.warning("refused the new checkpoint at %s, still serving the previous model: %s", path, e)
            self.on_swap("refused")
            return "refused"
        old = self._predictor
        self._predictor, self.serving, self.error = predictor, mark, None
        log.info("switched to the new checkpoint at %s (was %s)", path,
                 old.checkpoint.path if old is not None else "nothing")
        self.on_swap("swapped")
        return "swapped"

    def status(self) -> dict:
        """What /api/model adds for a watched model: whether a stand-in serves, and what the
        checkpoint's run is training (runs/progress.py)."""
        if self.source is None:
            return {}
        standin = self._predictor is not None and self.serving is None
        return {"standin_for": str(self.source.path) if standin else None,
                "training": read_progress(self.source.path.parent)}

    def load(self, load: Callable[[], Predictor]) -> None:
        """Load and warm (blocking); a failure is kept, logged and reported as 503."""
        started = time.perf_counter()
        try:
            self._warm_and_hold(load(), started)
        except Exception as e:  # noqa: BLE001 - reported by /api/ready and the routes, not raised
            self.error = str(e) or type(e).__name__
            log.exception("the model failed to load")
            return
        log.info("model ready in %.2f s", self.load_seconds)

    @property
    def ready(self) -> bool:
        return self._predictor is not None

    def get(self) -> Predictor:
        """The predictor, or a 503 that says why there is none yet."""
        if self._predictor is not None:
            return self._predictor
        raise HTTPException(503, f"the model failed to load: {self.error or 'not loaded yet'}")
