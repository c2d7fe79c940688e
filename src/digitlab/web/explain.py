"""POST /api/explain: what each layer of the model saw, for every digit read (or one).

The explanation is computed by the library (digitlab.explain); this router only turns
its pictures into PNG data URLs. Bodies, limits and errors are /api/predict's."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ..explain import describe, explain_image
from ..explain.explanation import attribution_overlay, map_grid
from ..recognition.predictor import png_data_url
from ..recognition.preprocess import decode_image
from .body import image_from_request
from .limits import Limits
from .models import ModelSlots
from .openapi import IMAGE_BODY, IMAGE_ROUTE_ERRORS, errors
from ..recognition.reading import DigitReading
from .bounded_read import read_within_limits


class ExplainedLayer(BaseModel):
    index: int  # position in the model's spec, from 0
    token: str  # the spec token, e.g. 64C3
    name: str  # the Keras class name, e.g. Conv2D
    kind: str  # conv, dense, maxpool, avgpool, gap, flatten, dropout, batchnorm, act
    shape: list[int]  # channels x height x width for maps, units for a vector
    caption: str  # what the layer does, in one line
    scale: float  # the magnitude at which the colours saturate (white 0, red +, blue -)
    channels: list[int] | None = None  # maps: the channels drawn (the most active, at most 64), in order
    columns: int | None = None  # ... laid out in rows of this many maps
    maps: str | None = None  # ... as one PNG data URL: a grid of height x width maps, 1 white pixel apart
    values: list[float] | None = None  # vectors: every unit's value


class ExplainedAttribution(BaseModel):
    method: str  # integrated gradients, from a blank page
    target: int  # the digit whose log-probability is explained
    steps: int
    scale: float  # the magnitude at which the overlay is fully opaque
    log_prob: float
    blank_log_prob: float
    completeness_error: float  # |sum of the map - (log_prob - blank_log_prob)|
    image: str  # RGBA PNG data URL, 28x28: red pushed toward the digit, blue against, transparent zero


class Explanation(BaseModel):
    digit: int
    probabilities: list[float]
    layers: list[ExplainedLayer]
    attribution: ExplainedAttribution


@dataclass(frozen=True)
class ExplainedDigit(DigitReading):
    explanation: Explanation | None = None  # absent for the digits not asked for (?digit=N)


class ExplainedReading(BaseModel):
    file: str | None = None
    model: str
    network: str  # the network explained: "the model", or which member of an ensemble
    number: str | None
    digits: list[ExplainedDigit]
    rejected: bool
    reason: str | None


def explain_router(models: ModelSlots, limits: Limits) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["api"])

    @router.post("/explain", response_model=ExplainedReading, response_model_exclude_unset=True,
                 summary="What each layer of the network saw, and which strokes decided",
                 openapi_extra={"requestBody": IMAGE_BODY}, responses=errors(IMAGE_ROUTE_ERRORS))
    async def explain(request: Request, digit: int | None = Query(None, ge=0, le=99, description=(
            "explain only this digit of the reading (from 0); default: every digit")),
                      model: str | None = None) -> JSONResponse:
        """The same bodies as /api/predict. The answer is /api/predict's with `detail=true`,
        plus, per digit, every layer's output in the model's order (feature maps as one PNG
        grid per layer on one colour scale, at most 64 maps; dense layers as numbers), the
        probabilities and an integrated-gradients attribution map over the input. `model`
        picks one of the server's models by name (GET /api/models)."""
        predictor = models.get(model)

        def work(data: bytes) -> dict:
            reading, network, explained = explain_image(predictor, decode_image(data), digit)
            answer = {**reading.to_json(), "network": network}
            for i, explanation in explained.items():
                entry = describe(explanation)
                for layer, shown in zip(explanation.layers, entry["layers"]):
                    if layer.is_maps:
                        shown["maps"] = png_data_url(map_grid(layer, shown["channels"]))
                entry["attribution"]["image"] = png_data_url(attribution_overlay(explanation))
                answer["digits"][i]["explanation"] = entry
            return answer

        data, name = await image_from_request(request, limits)
        result = await read_within_limits(work, data, limits)
        request.state.reading = {"digits": len(result["digits"]), "rejected": result["rejected"]}
        # sent as built: the response model documents it, and a digit not asked for has no
        # "explanation" key at all rather than a null one
        return JSONResponse({**result, "file": name, "model": predictor.checkpoint.name})

    return router
