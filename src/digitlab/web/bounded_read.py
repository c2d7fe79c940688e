"""Reading an image off the event loop, within the request's limits: the pixel check
before decoding, the --timeout, and an unreadable image as 422. Shared by the routes that
read a drawing (predict, samples, explain).

A reading that runs past --timeout cannot be stopped midway (PyTorch holds no cancel
point), so the request answers 503 and the reading finishes on its own. Those must not pile
up: readings run in a pool of READING_THREADS threads per worker, so at most that many run
at once, however many requests time out; a reading still waiting in the pool's queue when
its request times out is cancelled and never runs, and its image is let go. (anyio's own
threads gave the thread back to the request on timeout: a flood of slow requests started a
thread and kept an image for each.)
"""

from __future__ import annotations

import asyncio
import io
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

from fastapi import HTTPException
from PIL import Image

from ..recognition.preprocess import ImageError
from .limits import Limits

T = TypeVar("T")
READING_THREADS = 8  # per worker: enough to overlap decoding and PyTorch's own threads

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def reading_pool() -> ThreadPoolExecutor:
    """This process's reading threads (made on first use, so each worker has its own)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(READING_THREADS, thread_name_prefix="digitlab-read")
        return _pool


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


def _checked(work: Callable[..., T], box: list[bytes], limits: Limits, args: tuple) -> T:
    data = box[0]
    check_pixels(data, limits)
    return work(data, *args)


async def read_within_limits(work: Callable[..., T], data: bytes, limits: Limits, *args) -> T:
    """`work(data, *args)` in a reading thread, after the pixel check; 503 past the timeout
    (its wait in the queue included), 422 for an unreadable image."""
    box = [data]  # emptied when the reading is cancelled: the queue keeps its entry until a thread skips it
    future = reading_pool().submit(_checked, work, box, limits, args)
    try:
        return await asyncio.wait_for(asyncio.wrap_future(future), limits.timeout_s)
    except TimeoutError:
        if future.cancel():  # still queued: it never runs, and its image is let go now
            box.clear()
        # else it is running: it finishes in its thread, one of READING_THREADS
        raise HTTPException(503, f"reading the image took longer than {limits.timeout_s:g} s (--timeout)") from None
    except ImageError as e:
        raise HTTPException(422, str(e)) from None
