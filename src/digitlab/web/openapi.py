"""What OpenAPI says of the routes that read the body themselves: the three ways to send
an image, and the error answers, all {"detail": "..."}."""

from __future__ import annotations

from pydantic import BaseModel

from .body import IMAGE_TYPES


class Error(BaseModel):
    detail: str  # what was wrong, and the limit or setting that applies


def _image_body() -> dict:
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["image"],
                                           "properties": {"image": {"type": "string", "format": "binary"}}}},
        "application/json": {"schema": {"type": "object", "required": ["image"], "properties": {
            "image": {"type": "string", "description": "a data URL: data:image/png;base64,..."}}}},
        **{kind: binary for kind in IMAGE_TYPES}}}


IMAGE_BODY = _image_body()


def errors(described: dict[int, str]) -> dict:
    """OpenAPI entries for error answers."""
    return {code: {"model": Error, "description": text} for code, text in described.items()}


NOT_READY = "the model failed to load (the detail says why)"
NO_MODEL = "no model of that name on this server (GET /api/models lists them)"
IMAGE_ROUTE_ERRORS = {  # what every route that reads an image with a model may answer instead
    400: "empty body, bad base64, JSON nested too deeply or a malformed form",
    404: NO_MODEL,
    413: "an image over the byte limit (--max-image-bytes, default 5 MB)",
    415: "a content type that is not an image, form or JSON",
    422: "not a readable image, too many pixels (--max-pixels), truncated, or a bad query parameter",
    503: f"{NOT_READY}, or reading took longer than the limit (--timeout)"}
