"""Fuzzing: whatever bytes arrive, the decoder and preprocessing either read them or
raise ImageError (the documented error, which the API answers with 422), and the
live API answers every request its OpenAPI schema allows, and many it does not,
without a 5xx and with the response its schema promises.

Examples are bounded (and derandomized, so a run is repeatable) to keep the suite
fast: `pytest tests/test_fuzz.py --hypothesis-show-statistics` shows how many each
property tried.
"""

import io
import json
import struct
import urllib.error
import urllib.request
import zlib

import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image
from schemathesis.specs.openapi.checks import positive_data_acceptance

from conftest import serve_in_thread
from digitlab.recognition.preprocess import MAX_DIGITS, MAX_SIDE, ImageError, decode_image, find_digits
from digitlab.web.app import create_app

FUZZ = settings(derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# the modes each accepted format can store, as Pillow writes them
FORMAT_MODES = {"PNG": ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"], "JPEG": ["L", "RGB", "CMYK"],
                "WEBP": ["RGB", "RGBA"], "GIF": ["P", "L"]}
MAGIC = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBPVP8 "]


def read_or_refuse(data: bytes) -> None:
    """The property: decode and split into digits, or ImageError; nothing else escapes."""
    try:
        gray = decode_image(data)
    except ImageError as e:
        assert str(e), "an ImageError must say what is wrong"
        return
    assert gray.dtype == np.float32 and gray.ndim == 2 and 1 <= min(gray.shape) and max(gray.shape) <= MAX_SIDE
    assert np.isfinite(gray).all() and gray.min() >= 0 and gray.max() <= 255
    digits = find_digits(gray)
    assert len(digits) <= MAX_DIGITS
    for d in digits:
        assert d.image.shape == (28, 28) and d.image.dtype == np.uint8
        x, y, w, h = d.box
        assert 0 <= x and 0 <= y and w >= 1 and h >= 1 and x + w <= gray.shape[1] and y + h <= gray.shape[0]


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **options)
    return buf.getvalue()


def png16(pixels: np.ndarray) -> bytes:
    """A 16-bit PNG written by hand (Pillow writes 16 bits only for grayscale): gray,
    gray+alpha, RGB or RGBA by the channel count of `pixels` (H x W x C, uint16)."""
    h, w, c = pixels.shape
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    rows = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@st.composite
def sizes(draw, most_pixels: int = 600_000):
    """Width and height from 1 to the 4096 limit, any aspect ratio, bounded in area so
    that the examples stay fast (the full 4096x4096 is an explicit example)."""
    width = draw(st.integers(1, MAX_SIDE))
    height = draw(st.integers(1, max(1, min(MAX_SIDE, most_pixels // width))))
    return width, height


@st.composite
def pictures(draw):
    """A random small pattern (ink, paper, any values) scaled up to a random size, in a
    random mode and format, with alpha or palette transparency where the mode has them."""
    fmt = draw(st.sampled_from(sorted(FORMAT_MODES)))
    mode = draw(st.sampled_from(FORMAT_MODES[fmt]))
    width, height = draw(sizes())
    cells = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    pattern = rng.integers(0, 256, (cells, cells, 4), dtype=np.uint8)
    rgba = Image.fromarray(pattern, "RGBA").resize((width, height), Image.Resampling.NEAREST)
    if mode == "I;16":
        wide = (np.asarray(rgba.convert("L"), dtype=np.uint16) * draw(st.sampled_from([1, 16, 257])))
        image = Image.frombytes("I;16", (width, height), wide.astype("<u2").tobytes())
    elif mode == "P":
        image = rgba.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=draw(st.integers(2, 256)))
        if draw(st.booleans()):
            image.info["transparency"] = draw(st.integers(0, 255))
    else:
        image = rgba.convert(mode)
    options = {}
    if fmt == "JPEG" and draw(st.booleans()):
        exif = Image.Exif()
        exif[0x0112] = draw(st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 65535]))  # orientation, valid or not
        options["exif"] = exif
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = draw(st.integers(1, 95))
    return encode(image, fmt, **options)


def _solid(width: int, height: int, fmt: str = "PNG") -> bytes:
    image = Image.new("L", (width, height), 255)
    image.paste(0, (width // 3, height // 4, max(width // 3 + 1, width // 2), max(height // 4 + 1, height * 3 // 4)))
    return encode(image, fmt)


@settings(FUZZ, max_examples=300)
@given(pictures())
@example(_solid(MAX_SIDE, MAX_SIDE))  # the largest image accepted
@example(_solid(MAX_SIDE, 1)).via("the widest")
@example(_solid(1, MAX_SIDE)).via("the tallest")
@example(_solid(1, 1)).via("one pixel")
@example(_solid(MAX_SIDE + 1, 1)).via("one pixel over the limit")
def test_any_valid_image_is_read_or_refused_with_image_error(data):
    read_or_refuse(data)


@settings(FUZZ, max_examples=100)
@given(st.integers(1, 4).flatmap(lambda c: st.tuples(sizes(most_pixels=40_000), st.just(c), st.integers(0, 2**32 - 1))))
def test_16_bit_pngs_of_every_colour_type_are_read_or_refused(shape):
    (width, height), channels, seed = shape
    pixels = np.random.default_rng(seed).integers(0, 65536, (height, width, channels), dtype=np.uint16)
    read_or_refuse(png16(pixels))


@settings(FUZZ, max_examples=300)
@given(st.one_of(st.binary(max_size=4096),
                 st.tuples(st.sampled_from(MAGIC), st.binary(max_size=4096)).map(b"".join)))
def test_random_bytes_are_read_or_refused_with_image_error(data):
    read_or_refuse(data)


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # Pillow warns, reads what it can, and goes on
@settings(FUZZ, max_examples=300)
@given(pictures(), st.lists(st.tuples(st.integers(0, 2**31), st.integers(0, 255)), min_size=1, max_size=8),
       st.integers(0, 2**31))
def test_damaged_images_are_read_or_refused(data, flips, cut):
    damaged = bytearray(data)
    for position, value in flips:
        damaged[position % len(damaged)] = value
    read_or_refuse(bytes(damaged[: max(1, cut % (len(damaged) + 1))]))


# --- the live API, from its own OpenAPI schema ---------------------------------------------

def _no_model():
    raise AssertionError("only the schema is read from this app")


# The schema is the app's own (building it needs no model); the requests go to a live server.
OPENAPI = create_app(load=_no_model).openapi()
schema = schemathesis.openapi.from_dict(OPENAPI)


@pytest.fixture(scope="module")
def live_api(reader):
    with serve_in_thread(create_app(reader)) as url:
        with urllib.request.urlopen(f"{url}/openapi.json") as r:
            assert json.loads(r.read()) == OPENAPI  # the schema fuzzed is the one the server publishes
        yield url


@schema.parametrize()
@settings(FUZZ, max_examples=300)
def test_the_live_api_never_fails_and_answers_as_its_schema_says(case, live_api):
    # A random byte string is schema-valid but not an image: 422 is the right answer to it,
    # so the check that schema-valid data gets a 2xx does not apply to this API.
    case.call_and_validate(base_url=live_api, excluded_checks=[positive_data_acceptance])


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                           max_leaves=20)


@st.composite
def json_bodies(draw) -> bytes:
    """Any JSON, an {"image": ...} of any JSON value, or one nested up to 200,000 levels
    deep (the body a recursive parser fails on), whole or cut short."""
    kind = draw(st.sampled_from(["any", "image", "deep"]))
    if kind == "deep":
        depth = draw(st.integers(1, 200_000))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        body = '{"image": ' + opener * depth + "1" + closer * depth + "}"
    else:
        value = draw(json_values)
        body = json.dumps({"image": value} if kind == "image" else value)
    if draw(st.booleans()):
        body = body[: draw(st.integers(0, len(body)))]
    return body.encode()


@settings(FUZZ, max_examples=150)
@given(json_bodies())
def test_any_json_body_gets_a_reading_or_a_4xx_naming_the_problem(live_api, body):
    request = urllib.request.Request(f"{live_api}/api/predict", data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            status, answer = r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        status, answer = e.code, json.loads(e.read())
    assert status in (200, 400, 413, 422), (status, answer)
    assert status == 200 or isinstance(answer["detail"], str) and answer["detail"], answer
