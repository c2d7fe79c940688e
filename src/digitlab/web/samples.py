"""The corrections people make on the page: POST /api/samples stores a drawing with the
label they say is right, GET /api/samples/stats counts what was collected.

The drawing is read again here, by the model being served, so the store keeps what the
model saw and read rather than what a client claims it did. Store calls block (SQLite,
a PostgreSQL round trip), so they run in a worker thread; a store that cannot be reached
or written is a 503 naming it, and nothing already stored is touched. A server started
with `--no-store` has no store: stats say so (the page hides its buttons) and POST is 404.
A client posts at most `--samples-per-minute` (sample_quota.py), a drawing stored is at
most `--max-sample-bytes`, and the store holds at most `--max-samples` (two workers
writing at the same moment may each add the last one).
"""

from __future__ import annotations

import math

import anyio.to_thread
from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel

from ..errors import DigitlabError
from ..store import SampleStore, StoreError, StoreFull, label_name, parse_label
from ..store.capture import sample_from_drawing
from .body import image_from_request
from .limits import Limits
from .models import ModelSlots
from .openapi import IMAGE_BODY, errors
from .sample_quota import ClientQuota
from .bounded_read import read_within_limits

NO_STORE = "the sample store is off (the server was started with --no-store)"


class StoredSample(BaseModel):
    id: int
    label: str  # "0".."9" or "not a digit"
    reading: str | None  # what the model read
    total: int  # samples in the store now


class SampleStats(BaseModel):
    enabled: bool  # false when the server runs with --no-store
    total: int
    labels: dict[str, int]  # "0".."9", "not a digit" -> samples


async def _in_thread(work, *args):
    try:
        return await anyio.to_thread.run_sync(work, *args)
    except StoreFull as e:
        raise HTTPException(507, f"{e} (--max-samples): export and clear it, or raise the limit") from None
    except StoreError as e:
        raise HTTPException(503, str(e)) from None


def samples_router(models: ModelSlots, store: SampleStore | None, limits: Limits) -> APIRouter:
    router = APIRouter(prefix="/api/samples", tags=["samples"])
    quota = ClientQuota(limits.samples_per_minute)

    def _store() -> SampleStore:
        if store is None:
            raise HTTPException(404, NO_STORE)
        return store

    @router.post("", response_model=StoredSample, status_code=201, summary="Store a corrected drawing",
                 openapi_extra={"requestBody": IMAGE_BODY},
                 responses=errors({400: "empty body, bad base64, bad JSON or form",
                                   404: f"{NO_STORE}, or no model of that name",
                                   413: "an image over the byte limit (--max-image-bytes)",
                                   415: "a content type that is not an image, form or JSON",
                                   422: "an unknown label, a blank or unreadable image, or too many pixels",
                                   503: "the store cannot be reached or written, or the model is not loaded"}))
    async def add_sample(request: Request, label: str = Query(
            ..., description='the right answer, as the page shows it: one of "0" to "9", or "not a digit"'),
            model: str | None = None) -> dict:
        """The image goes in the same three forms as /api/predict; the label in the query, and
        `model` names the model that read it (default: the server's first)."""
        target = _store()
        try:
            value = parse_label(label)
        except DigitlabError as e:
            raise HTTPException(422, str(e)) from None
        wait = quota.take(request.client.host if request.client else "")
        if wait > 0:
            raise HTTPException(429, f"this client stored {limits.samples_per_minute} samples in the last minute "
                                     f"(--samples-per-minute); try again in {math.ceil(wait)} s",
                                headers={"Retry-After": str(math.ceil(wait))})
        predictor = models.get(model)
        data, _ = await image_from_request(request, limits)
        if len(data) > limits.max_sample_bytes:
            raise HTTPException(413, f"a drawing to store may have at most {limits.max_sample_bytes:,} bytes "
                                     f"(--max-sample-bytes), this one has {len(data):,}")
        sample = await read_within_limits(sample_from_drawing, data, limits, predictor, value, model or models.default)
        sample_id = await _in_thread(target.add, sample, limits.max_samples)
        total = await _in_thread(target.count)
        return {"id": sample_id, "label": label_name(value), "reading": sample.reading, "total": total}

    @router.get("/stats", response_model=SampleStats, summary="Samples collected, per label",
                responses=errors({503: "the store cannot be reached"}))
    async def stats() -> dict:
        if store is None:
            return {"enabled": False, "total": 0, "labels": {}}
        counts = await _in_thread(store.stats)
        return {"enabled": True, "total": sum(counts.values()), "labels": counts}

    return router
