"""The predictor a server answers with: loaded and warmed before the server takes traffic.

Workers of `digitlab serve --workers N` share one listening socket, so a probe of
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
from typing import Callable

from fastapi import HTTPException
from PIL import Image, ImageDraw

from ..recognition.predictor import Predictor

log = logging.getLogger("digitlab.web")
WARM_READS = 3


def warm_up_image() -> bytes:
    """A drawn one: a stroke down a small canvas, as PNG."""
    image = Image.new("L", (64, 64), 255)
    ImageDraw.Draw(image).line([(32, 8), (30, 56)], fill=0, width=6)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


class ModelSlot:
    def __init__(self, predictor: Predictor | None = None):
        self._predictor: Predictor | None = None
        self.error: str | None = None
        self.load_seconds: float | None = None
        if predictor is not None:
            self._warm_and_hold(predictor, time.perf_counter())

    def _warm_and_hold(self, predictor: Predictor, started: float) -> None:
        image = warm_up_image()
        for _ in range(WARM_READS):
            predictor.read(image)
        self.load_seconds = time.perf_counter() - started
        self._predictor = predictor

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
