"""The shapes of the API's answers (Pydantic models, so OpenAPI documents them)."""

from __future__ import annotations

from pydantic import BaseModel


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
    line_reader: str | None = None  # the line reader that reads touching digits whole, if the model has one


class Health(BaseModel):
    status: str
    version: str


class Ready(BaseModel):
    status: str
    load_seconds: float | None  # loading and warming the model
