"""The one way an image route works: read the body within its limits, check the pixel
count before decoding, run the model in a worker thread under the time limit, and turn
a bad image into 422 and a slow one into 503. /api/predict and /api/explain share it, so
the same bad body gets the same answer from both."""

from __future__ import annotations

import asyncio
from typing import Callable

import anyio.to_thread
from fastapi import HTTPException, Request

from ..recognition.preprocess import ImageError
from .body import image_from_request
from .limits import Limits, check_pixels


def _within_limits(work: Callable[[bytes], dict], data: bytes, limits: Limits) -> dict:
    check_pixels(data, limits)
    return work(data)


async def run_image_work(request: Request, limits: Limits, work: Callable[[bytes], dict]) -> tuple[dict, str | None]:
    """`work(image bytes)` for the request's image: its answer and the uploaded file's name."""
    data, name = await image_from_request(request, limits)
    try:
        # abandoned on timeout: the client gets its answer now, the thread finishes on its own
        job = anyio.to_thread.run_sync(_within_limits, work, data, limits, abandon_on_cancel=True)
        return await asyncio.wait_for(job, limits.timeout_s), name
    except TimeoutError:
        raise HTTPException(503, f"reading the image took longer than {limits.timeout_s:g} s (--timeout)") from None
    except ImageError as e:
        raise HTTPException(422, str(e)) from None
