"""What one request may cost the server: bytes, pixels, JSON nesting and seconds.

A server set up for a load balancer needs these as settings (`digitlab serve
--max-image-bytes --max-pixels --timeout`), so they live in one frozen object that
the app factory takes; the defaults are the limits the service has always had.
Every check here runs before the expensive step it guards, and every refusal says
which limit was hit and the flag that sets it.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from fastapi import HTTPException
from PIL import Image

from ..errors import DigitlabError
from ..recognition.preprocess import MAX_SIDE

# The JSON the API accepts is one flat object ({"image": "..."}); nothing legitimate
# comes close to this depth, and the refusal happens before a recursive parser runs.
MAX_JSON_DEPTH = 32


@dataclass(frozen=True)
class Limits:
    max_image_bytes: int = 5 * 1024 * 1024
    max_pixels: int = MAX_SIDE * MAX_SIDE  # the decoder's own bound (4096x4096) is also the highest allowed
    timeout_s: float = 30.0  # reading one image; a request past it gets 503

    def __post_init__(self):
        if self.max_image_bytes < 1:
            raise DigitlabError(f"--max-image-bytes must be at least 1, not {self.max_image_bytes}")
        if not 1 <= self.max_pixels <= MAX_SIDE * MAX_SIDE:
            raise DigitlabError(f"--max-pixels must be between 1 and {MAX_SIDE * MAX_SIDE:,} ({MAX_SIDE}x{MAX_SIDE}, "
                                f"the decoder's bound), not {self.max_pixels:,}")
        if not self.timeout_s > 0:
            raise DigitlabError(f"--timeout must be a positive number of seconds, not {self.timeout_s}")

    @property
    def max_body_bytes(self) -> int:
        """A base64 data URL of the largest image, plus JSON or multipart framing."""
        return self.max_image_bytes * 4 // 3 + 64 * 1024


def json_depth(body: bytes) -> int:
    """How deeply arrays and objects nest in a JSON text, found without parsing it
    (vectorized, so even a body of millions of brackets costs milliseconds and no
    recursion).

    Brackets inside strings do not count: escapes are removed first, so that only the
    quotes that open and close strings remain. Invalid JSON gets some number; the
    parser refuses it afterwards."""
    opens = body.count(b"[") + body.count(b"{")
    if opens <= 1:  # the usual {"image": "..."}: base64 holds no brackets
        return opens
    text = np.frombuffer(body.replace(b"\\\\", b"").replace(b'\\"', b""), dtype=np.uint8)
    in_string = np.cumsum(text == ord('"')) % 2 == 1  # from an opening quote up to its closing one
    step = ((text == ord("[")) | (text == ord("{"))).astype(np.int32)
    step -= (text == ord("]")) | (text == ord("}"))
    step[in_string] = 0
    return int(np.cumsum(step).max(initial=0))


def check_json_depth(body: bytes) -> None:
    depth = json_depth(body)
    if depth > MAX_JSON_DEPTH:
        raise HTTPException(400, f"the JSON nests {depth:,} levels deep; at most {MAX_JSON_DEPTH} are accepted "
                                 '(send {"image": "data:image/png;base64,..."})')


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
