"""The shapes of the API's answers besides a reading (recognition/reading.py): Pydantic
models, so OpenAPI documents them."""

from __future__ import annotations

from pydantic import BaseModel


class ModelInfo(BaseModel):
    name: str
    spec: str
    parameters: int
    val_accuracy: float | None
    rejection_threshold: float
    path: str
    runtime: str
    line_reader: str | None = None  # the line reader that reads touching digits whole, if the model has one
    group_judge: str | None = None  # the group judge that decides each stroke group, if the model has one
    standin_for: str | None = None  # the checkpoint this stand-in serves for, until it is there (serve --standin)
    training: dict | None = None  # what that checkpoint's run is training now (RUN/progress.json), if anything


class Health(BaseModel):
    status: str
    version: str


class Ready(BaseModel):
    status: str
    load_seconds: float | None  # loading and warming the model
