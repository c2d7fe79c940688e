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
