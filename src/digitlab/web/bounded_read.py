"""Reading an image off the event loop, within the request's limits: the pixel check
before decoding, the --timeout, and an unreadable image as 422. Shared by the routes that
read a drawing (predict, samples)."""

from __future__ import annotations

import asyncio
import io
import warnings
from typing import Callable, TypeVar

import anyio.to_thread
from fastapi import HTTPException
from PIL import Image

from ..recognition.preprocess import ImageError
from .limits import Limits

T = TypeVar("T")


def check_pixels(data: bytes, limits: Limits) -> None:
    """Refuse (422) an image whose header claims more than `limits.max_pixels`, before
    it is decoded. Only the header is read; what cannot be read is left to the decoder,
    which names the problem."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            width, height = Image.open(io.BytesIO(data)).size
    except Exception:  # noqa: BLE001 - any unreadable header is the decoder's to report
        return
    if width * height > limits.max_pixels:
        raise HTTPException(422, f"the image is {width}x{height} = {width * height:,} pixels; at most "
                                 f"{limits.max_pixels:,} are accepted (--max-pixels)")


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
