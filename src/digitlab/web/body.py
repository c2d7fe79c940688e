"""The image in a request: a multipart upload, a JSON data URL or a raw image body.

The body is read with a hard limit before anything parses it, JSON is checked for
nesting before the (recursive) parser sees it, and every refusal is an
HTTPException whose text names what was wrong and which limit applies.
"""

from __future__ import annotations

import base64
import binascii
import json

import numpy as np
from fastapi import HTTPException, Request
from starlette.datastructures import UploadFile

from .limits import MAX_JSON_DEPTH, Limits

IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")


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


async def read_body(request: Request, limits: Limits) -> bytes:
    """The request body, refused with 413 as soon as it passes the body limit."""
    most = limits.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > most:
        raise HTTPException(413, f"the request is {int(declared):,} bytes; images up to {limits.max_image_bytes:,} "
                                 "bytes are accepted (--max-image-bytes)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > most:
            raise HTTPException(413, f"the request is over {most:,} bytes; images up to "
                                     f"{limits.max_image_bytes:,} bytes are accepted (--max-image-bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


def _decode_data_url(text: str) -> bytes:
    if text.startswith("data:"):
        header, _, text = text.partition(",")
        if ";base64" not in header:
            raise HTTPException(400, "the data URL must be base64-encoded (data:image/png;base64,...)")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(400, "the 'image' field is not valid base64") from None


def _image_from_json(body: bytes) -> bytes:
    check_json_depth(body)
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(400, "the body is not valid JSON") from None
    except RecursionError:  # the depth check makes this unreachable; kept so no parser limit is ever a 500
        raise HTTPException(400, "the JSON nests too deeply") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("image"), str):
        raise HTTPException(422, 'the JSON must be {"image": "data:image/png;base64,..."}')
    return _decode_data_url(payload["image"])


async def _image_from_form(request: Request, body: bytes) -> tuple[bytes, str | None]:
    async def replay():
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=10)
    except Exception:  # the multipart parser raises several kinds on malformed input
        raise HTTPException(400, "the multipart body could not be parsed") from None
    uploads = [v for v in form.values() if isinstance(v, UploadFile)]
    if not uploads:
        raise HTTPException(400, "the form holds no file; send the image in a field named 'image'")
    return await uploads[0].read(), uploads[0].filename


async def image_from_request(request: Request, limits: Limits) -> tuple[bytes, str | None]:
    """(image bytes, file name) from a multipart upload, a JSON data URL or a raw image body."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await read_body(request, limits)
    if not body:
        raise HTTPException(400, "the request body is empty; send an image")
    if content_type == "multipart/form-data":
        data, name = await _image_from_form(request, body)
    elif content_type == "application/json":
        data, name = _image_from_json(body), None
    elif content_type in IMAGE_TYPES:
        data, name = body, None
    else:
        raise HTTPException(415, f"content type {content_type or '(none)'!r} is not accepted; send "
                                 "multipart/form-data, application/json or an image/* body")
    if not data:
        raise HTTPException(400, "the image is empty (0 bytes)")
    if len(data) > limits.max_image_bytes:
        raise HTTPException(413, f"the image is {len(data):,} bytes; at most {limits.max_image_bytes:,} are "
                                 "accepted (--max-image-bytes)")
    return data, name
