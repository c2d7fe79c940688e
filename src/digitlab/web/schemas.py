"""The shapes of the API's answers (Pydantic models, so OpenAPI documents them) and of
the request body every image route accepts."""

from __future__ import annotations

from pydantic import BaseModel

from .body import IMAGE_TYPES


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


class Ready(BaseModel):
    status: str
    load_seconds: float | None  # loading and warming the model


class Error(BaseModel):
    detail: str  # what was wrong, and the limit or setting that applies


def request_body_schema() -> dict:
    """The three ways to send an image, for OpenAPI (the handler reads the body itself)."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["image"],
                                           "properties": {"image": {"type": "string", "format": "binary"}}}},
        "application/json": {"schema": {"type": "object", "required": ["image"], "properties": {
            "image": {"type": "string", "description": "a data URL: data:image/png;base64,..."}}}},
        **{kind: binary for kind in IMAGE_TYPES}}}


def error_responses(described: dict[int, str]) -> dict:
    """OpenAPI entries for error answers, all {"detail": "..."}."""
    return {code: {"model": Error, "description": text} for code, text in described.items()}


NOT_READY = "the model failed to load (the detail says why)"
IMAGE_ROUTE_ERRORS = {  # what every route that takes an image may answer instead
    400: "empty body, bad base64, JSON nested too deeply or a malformed form",
    413: "an image over the byte limit (--max-image-bytes, default 5 MB)",
    415: "a content type that is not an image, form or JSON",
    422: "not a readable image, too many pixels (--max-pixels), truncated, or a bad query parameter",
    503: f"{NOT_READY}, or reading took longer than the limit (--timeout)"}
