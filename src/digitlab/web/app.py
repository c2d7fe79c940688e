"""The web service: the drawing page and a JSON API around one Predictor.

`create_app(predictor)` builds the app, so tests inject whatever model they like.
Every request body is read with a hard size limit before anything parses it, and
every failure is a JSON error naming the problem; no traceback reaches a client.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from .. import __version__
from ..recognition.predictor import Predictor
from ..recognition.preprocess import ImageError

MAX_IMAGE_BYTES = 5 * 1024 * 1024
# a base64 data URL of the largest image, plus JSON or multipart framing
MAX_BODY_BYTES = MAX_IMAGE_BYTES * 4 // 3 + 64 * 1024
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")
STATIC = Path(__file__).parent / "static"
log = logging.getLogger("digitlab.web")


class TopGuess(BaseModel):
    digit: int
    probability: float


class DigitReading(BaseModel):
    digit: int
    confidence: float
    top3: list[TopGuess]
    box: list[int]  # x, y, width, height in the image
    image: str | None = None  # the 28x28 input the model saw, as a PNG data URL (with ?detail=true)
    probabilities: list[float] | None = None  # all ten (with ?detail=true)


class Reading(BaseModel):
    file: str | None = None
    number: str | None
    digits: list[DigitReading]
    rejected: bool
    reason: str | None


class ModelInfo(BaseModel):
    name: str
    spec: str
    parameters: int
    val_accuracy: float | None
    rejection_threshold: float
    path: str
    runtime: str


class Health(BaseModel):
    status: str
    version: str


async def read_body(request: Request) -> bytes:
    """The request body, refused with 413 as soon as it passes MAX_BODY_BYTES."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPException(413, f"the request is {int(declared):,} bytes; images up to {MAX_IMAGE_BYTES:,} "
                                 "bytes are accepted")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HTTPException(413, f"the request is over {MAX_BODY_BYTES:,} bytes; images up to "
                                     f"{MAX_IMAGE_BYTES:,} bytes are accepted")
        chunks.append(chunk)
    return b"".join(chunks)


def _decode_data_url(text: str) -> bytes:
    if text.startswith("data:"):
        header, _, text = text.partition(",")
        if ";base64" not in header:
            raise HTTPException(400, "the data URL must be base64-encoded (data:image/png;base64,...)")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(400, "the 'image' field is not valid base64") from None


async def image_from_request(request: Request) -> tuple[bytes, str | None]:
    """(image bytes, file name) from a multipart upload, a JSON data URL or a raw image body."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await read_body(request)
    if not body:
        raise HTTPException(400, "the request body is empty; send an image")
    if content_type == "multipart/form-data":
        async def replay():
            return {"type": "http.request", "body": body, "more_body": False}

        try:
            form = await Request(request.scope, replay).form(max_files=1, max_fields=10)
        except Exception:  # the multipart parser raises several kinds on malformed input
            raise HTTPException(400, "the multipart body could not be parsed") from None
        uploads = [v for v in form.values() if isinstance(v, UploadFile)]
        if not uploads:
            raise HTTPException(400, "the form holds no file; send the image in a field named 'image'")
        data, name = await uploads[0].read(), uploads[0].filename
    elif content_type == "application/json":
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise HTTPException(400, "the body is not valid JSON") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("image"), str):
            raise HTTPException(422, 'the JSON must be {"image": "data:image/png;base64,..."}')
        data, name = _decode_data_url(payload["image"]), None
    elif content_type in IMAGE_TYPES:
        data, name = body, None
    else:
        raise HTTPException(415, f"content type {content_type or '(none)'!r} is not accepted; send "
                                 "multipart/form-data, application/json or an image/* body")
    if not data:
        raise HTTPException(400, "the image is empty (0 bytes)")
    if len(data) > MAX_IMAGE_BYTES:
        raise HTTPException(413, f"the image is {len(data):,} bytes; at most {MAX_IMAGE_BYTES:,} are accepted")
    return data, name


def api_router(predictor: Predictor) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["api"])

    @router.post("/predict", response_model=Reading, response_model_exclude_none=True,
                 summary="Read the digits or the number in an image",
                 responses={400: {"description": "empty body, bad base64 or malformed form"},
                            413: {"description": "more than 5 MB"},
                            415: {"description": "a content type that is not an image, form or JSON"},
                            422: {"description": "not a readable image, too many pixels, or truncated"}})
    async def predict(request: Request, detail: bool = False) -> dict:
        """Send the image as multipart/form-data (field `image`), as JSON
        `{"image": "data:image/png;base64,..."}`, or as a raw image/* body. With
        `detail=true` each digit also carries the 28x28 image the model saw and all ten
        probabilities."""
        data, name = await image_from_request(request)
        try:
            result = await run_in_threadpool(predictor.read, data, detail)
        except ImageError as e:
            raise HTTPException(422, str(e)) from None
        return {"file": name, **result}

    @router.get("/health", response_model=Health, summary="Liveness")
    async def health() -> dict:
        return {"status": "ok", "version": __version__}

    @router.get("/model", response_model=ModelInfo, summary="The model being served")
    async def model() -> dict:
        return predictor.info

    return router


def create_app(predictor: Predictor) -> FastAPI:
    app = FastAPI(title="digitlab", version=__version__,
                  description="Draw a digit or a number; a neural network trained on MNIST reads it.")
    app.include_router(api_router(predictor))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return JSONResponse({"detail": "internal error; the server keeps running"}, status_code=500)

    return app
