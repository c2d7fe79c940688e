"""The web service: the drawing page and a JSON API around one Predictor, or several by
name (models.py).

`create_app(predictor)` builds the app, so tests inject whatever model they like;
`digitlab serve` passes functions that load them instead (server.py), so that each
worker process loads its own models, before it takes connections (model_slot.py).
Corrections go to the sample store (samples.py); explain.py shows what
the network saw. Request bodies are read with hard limits before anything parses them (body.py,
limits.py), every request is counted and logged (observe.py), and every failure is
a JSON error naming the problem; no traceback reaches a client.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Callable

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from .. import __version__
from ..recognition.predictor import Predictor
from ..recognition.reading import Reading
from ..store import SampleStore
from .body import image_from_request
from .explain import explain_router
from .limits import Limits
from .live import Watcher
from .metrics import ServiceMetrics, metrics_router
from .models import Model, ModelSlots, model_name, models_router
from .observe import ObserveRequests
from .openapi import IMAGE_BODY, IMAGE_ROUTE_ERRORS, NO_MODEL, NOT_READY, errors
from .bounded_read import read_within_limits
from .samples import samples_router
from .schemas import Health, ModelInfo, Ready

MAX_IMAGE_BYTES = Limits().max_image_bytes
STATIC = Path(__file__).parent / "static"
log = logging.getLogger("digitlab.web")


def api_router(models: ModelSlots, limits: Limits) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["api"])

    @router.post("/predict", response_model=Reading,
                 summary="Read the digits or the number in an image",
                 openapi_extra={"requestBody": IMAGE_BODY},
                 responses=errors(IMAGE_ROUTE_ERRORS))
    async def predict(request: Request, detail: bool = False, model: str | None = None) -> JSONResponse:
        """Send the image as multipart/form-data (field `image`), as JSON
        `{"image": "data:image/png;base64,..."}`, or as a raw image/* body. With
        `detail=true` each digit also carries the 28x28 image the model saw and all ten
        probabilities. `model` picks one of the server's models by name (GET /api/models)."""
        predictor = models.get(model)
        data, name = await image_from_request(request, limits)
        reading = await read_within_limits(predictor.read, data, limits, detail)
        request.state.reading = {"digits": len(reading.digits), "rejected": reading.rejected}
        # sent as built: the response model documents it; a digit's image and probabilities
        # appear only with detail=true
        return JSONResponse(replace(reading, file=name).to_json())

    @router.get("/health", response_model=Health, summary="Liveness: the process answers")
    async def health() -> dict:
        return {"status": "ok", "version": __version__}

    @router.get("/ready", response_model=Ready, summary="Readiness: the model is loaded and warmed",
                responses=errors({503: NOT_READY}))
    async def ready() -> dict:
        models.check_ready()
        return {"status": "ready", "load_seconds": models.load_seconds}

    @router.get("/model", response_model=ModelInfo, summary="The model being served (or the one named)",
                responses=errors({404: NO_MODEL, 503: NOT_READY}))
    async def model(model: str | None = None) -> dict:
        return {**models.get(model).info, **models.slot(model).status()}

    return router


def create_app(predictor: Predictor | None = None, *, load: Callable[[], Predictor] | None = None,
               limits: Limits = Limits(), store: SampleStore | None = None,
               models: dict[str, Model] | None = None, watch: float = 0.0) -> FastAPI:
    """The app around a loaded `predictor` (tests), or around the one `load` returns,
    called as the server starts, before it accepts connections; or around several
    `models` by name, loaded or load functions or sources (`digitlab serve --model A --model
    B`). Sources are checked for a new checkpoint every `watch` seconds (0: never; live.py).
    Corrections go to `store`; without one the page offers none."""
    if sum(x is not None for x in (predictor, load, models)) != 1:
        raise ValueError("pass one of: a predictor, a load function, or models by name")
    if predictor is not None:
        models = {model_name(predictor.checkpoint.path): predictor}
    elif load is not None:
        models = {"model": load}
    metrics = ServiceMetrics()
    slots = ModelSlots(models, on_swap=lambda outcome: metrics.swaps.labels(outcome).inc())
    if slots.load_seconds is not None:
        metrics.load_seconds.set(slots.load_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if slots.loaders:  # the server accepts connections only after this
            await anyio.to_thread.run_sync(slots.load)
            if slots.load_seconds is not None:
                metrics.load_seconds.set(slots.load_seconds)
        watcher = Watcher(slots.refresh, watch) if watch > 0 and slots.watched else None
        if watcher is not None:
            watcher.start()
        yield
        if watcher is not None:
            watcher.stop()

    app = FastAPI(title="digitlab", version=__version__, lifespan=lifespan,
                  description="Draw a digit or a number; a neural network trained on MNIST reads it.")
    app.state.models = slots  # for whoever holds the app: tests swap models through it
    app.include_router(api_router(slots, limits))
    app.include_router(explain_router(slots, limits))
    app.include_router(models_router(slots))
    app.include_router(samples_router(slots, store, limits))
    app.include_router(metrics_router(metrics))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(ObserveRequests, metrics=metrics)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # one string, like every other error here: "query parameter 'detail': Input should be ..."
        problems = "; ".join(f"{' '.join(map(str, e['loc'][:-1]))} parameter {e['loc'][-1]!r}: {e['msg']}"
                             for e in exc.errors())
        return JSONResponse({"detail": problems}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return JSONResponse({"detail": "internal error; the server keeps running"}, status_code=500)

    return app
