"""The predictor a server answers with, loaded in the background.

A worker listens at once (GET /api/health answers: the process is alive) and loads
its model in a thread; until the model is loaded and has read a first image (the
first call through PyTorch is several times slower than the next), GET /api/ready
and the routes that need the model answer 503, so a load balancer sends a worker no
traffic before it can answer at full speed.
"""

from __future__ import annotations

import io
import logging
import threading
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

    def start(self, load: Callable[[], Predictor], on_ready: Callable[[float], None] = lambda s: None) -> None:
        """Load (and warm) in a daemon thread; `on_ready(seconds)` once it is ready."""

        def run():
            started = time.perf_counter()
            try:
                self._warm_and_hold(load(), started)
            except Exception as e:  # noqa: BLE001 - any failure is reported by /api/ready, not raised in a thread
                self.error = str(e) or type(e).__name__
                log.exception("the model failed to load")
                return
            log.info("model ready in %.2f s", self.load_seconds)
            on_ready(self.load_seconds)

        threading.Thread(target=run, name="digitlab-model-load", daemon=True).start()

    @property
    def ready(self) -> bool:
        return self._predictor is not None

    def get(self) -> Predictor:
        """The predictor, or a 503 that says why there is none yet."""
        if self._predictor is not None:
            return self._predictor
        if self.error is not None:
            raise HTTPException(503, f"the model failed to load: {self.error}")
        raise HTTPException(503, "the model is still loading; GET /api/ready answers 200 once it is ready")
