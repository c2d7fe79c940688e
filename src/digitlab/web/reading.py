"""Reading an image off the event loop, within the request's limits: the pixel check
before decoding, the --timeout, and an unreadable image as 422. Shared by the routes that
read a drawing (predict, samples)."""

from __future__ import annotations

import asyncio
from typing import Callable, TypeVar

import anyio.to_thread
from fastapi import HTTPException

from ..recognition.preprocess import ImageError
from .limits import Limits, check_pixels

T = TypeVar("T")


def _checked(work: Callable[..., T], data: bytes, limits: Limits, args: tuple) -> T:
    check_pixels(data, limits)
    return work(data, *args)


async def read_within_limits(work: Callable[..., T], data: bytes, limits: Limits, *args) -> T:
    """`work(data, *args)` in a worker thread, after the pixel check; 503 past the timeout
    (the thread is abandoned and finishes on its own), 422 for an unreadable image."""
    try:
        task = anyio.to_thread.run_sync(_checked, work, data, limits, args, abandon_on_cancel=True)
        return await asyncio.wait_for(task, limits.timeout_s)
    except TimeoutError:
        raise HTTPException(503, f"reading the image took longer than {limits.timeout_s:g} s (--timeout)") from None
    except ImageError as e:
        raise HTTPException(422, str(e)) from None
