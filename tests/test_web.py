import base64
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from conftest import CHROMIUM_ARGS, png_bytes, serve_in_thread
from digitlab.web.app import MAX_IMAGE_BYTES, create_app

ARTIFACTS = Path(__file__).resolve().parents[1] / "runs" / "test-artifacts"



@pytest.fixture(scope="module")
def client(reader):
    with TestClient(create_app(reader), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def seven(mnist):
    return png_bytes(Image.fromarray(255 - mnist.test_images[0].numpy()).resize((140, 140)))


def test_predict_accepts_a_form_upload_a_data_url_and_a_raw_body(client, seven):
    as_form = client.post("/api/predict", files={"image": ("seven.png", seven, "image/png")})
    assert as_form.status_code == 200, as_form.text
    body = as_form.json()
    assert body["number"] == "7" and body["file"] == "seven.png" and not body["rejected"]
    assert set(body["digits"][0]) == {"digit", "confidence", "top3", "box"}
    url = "data:image/png;base64," + base64.b64encode(seven).decode()
    as_json = client.post("/api/predict?detail=true", json={"image": url})
    assert as_json.status_code == 200 and as_json.json()["number"] == "7"
    detail = as_json.json()["digits"][0]
    assert detail["image"].startswith("data:image/png;base64,") and len(detail["probabilities"]) == 10
    raw = client.post("/api/predict", content=seven, headers={"content-type": "image/png"})
    assert raw.status_code == 200 and raw.json()["number"] == "7"


def test_health_model_and_openapi(client, reader):
    assert client.get("/api/health").json()["status"] == "ok"
    model = client.get("/api/model").json()
    assert model["name"] == "digitlab-cnn" and model["parameters"] == 242442
    assert model["rejection_threshold"] == pytest.approx(reader.threshold)
    spec = client.get("/openapi.json").json()
    assert {"/api/predict", "/api/health", "/api/model"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text
    assert client.get("/static/app.js").status_code == 200


def _bomb() -> bytes:
    """A 100-byte PNG whose header claims 30000 x 30000 pixels (a decompression bomb's calling card)."""
    png = bytearray(png_bytes(Image.new("L", (8, 8), 255)))
    png[16:24] = struct.pack(">II", 30000, 30000)  # IHDR width and height
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))
    return bytes(png)


FORM_WITHOUT_FILE = (b'--XX\r\nContent-Disposition: form-data; name="field"\r\n\r\nvalue\r\n--XX--\r\n',
                     {"content-type": "multipart/form-data; boundary=XX"})


BAD_BODIES = [  # (request, status, a fragment of the detail): /api/explain must answer each the same way
    (dict(content=b"", headers={"content-type": "image/png"}), 400, "empty"),
    (dict(content=b"\x00" * (MAX_IMAGE_BYTES + 1), headers={"content-type": "image/png"}), 413, "bytes"),
    (dict(files={"image": ("big.png", b"\x00" * (MAX_IMAGE_BYTES + 10), "image/png")}), 413, "bytes"),
    (dict(content=png_bytes(Image.new("L", (4097, 8), 255)), headers={"content-type": "image/png"}), 422, "4096x4096"),
    (dict(content=_bomb(), headers={"content-type": "image/png"}), 422, "4096x4096"),
    (dict(content=b"hello, not an image", headers={"content-type": "image/png"}), 422, "not a readable image"),
    (dict(content=png_bytes(Image.new("L", (64, 64), 255))[:70], headers={"content-type": "image/png"}), 422,
     "truncated"),
    (dict(json={"image": "data:image/png;base64,@@@not base64@@@"}), 400, "base64"),
    (dict(json={"picture": "x"}), 422, '{"image"'),
    (dict(content=b"{not json", headers={"content-type": "application/json"}), 400, "not valid JSON"),
    (dict(content=b"some text", headers={"content-type": "text/plain"}), 415, "text/plain"),
    (dict(files={"note": ("a.txt", b"x", "text/plain")}, data={}), 422, "not a readable image"),
    (dict(content=FORM_WITHOUT_FILE[0], headers=FORM_WITHOUT_FILE[1]), 400, "no file"),
]


@pytest.mark.parametrize("kwargs, status, fragment", BAD_BODIES)
def test_bad_requests_get_a_json_4xx_naming_the_problem(client, kwargs, status, fragment):
    response = client.post("/api/predict", **kwargs)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert fragment in str(detail), detail
    assert "Traceback" not in response.text
    assert client.get("/api/health").status_code == 200  # still serving


@pytest.fixture(scope="module")
def server(reader):
    with serve_in_thread(create_app(reader)) as url:
        yield url


def _stroke(page, points):
    box = page.locator("#canvas").bounding_box()
    sx, sy = box["width"] / 560, box["height"] / 280
    page.mouse.move(box["x"] + points[0][0] * sx, box["y"] + points[0][1] * sy)
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(box["x"] + x * sx, box["y"] + y * sy, steps=8)
    page.mouse.up()


def _dark(screenshot: Path, box: dict) -> np.ndarray:
    """The part of a page screenshot inside `box`: black where it is near black, white elsewhere
    (the blue and orange boxes over the digits and the gray hints drop out)."""
    gray = Image.open(screenshot).convert("L").crop((round(box["x"]), round(box["y"]),
                                                     round(box["x"] + box["width"]), round(box["y"] + box["height"])))
    return np.where(np.asarray(gray) < 60, 0, 255).astype(np.uint8)


def test_a_person_draws_a_one_then_a_seven_in_chromium(server, reader):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 700})
            page.goto(server)
            expect(page.locator("#number")).to_have_text("draw something")
            _stroke(page, [(280, 40), (280, 240)])  # a one: one stroke down
            expect(page.locator("#number")).to_have_text("1", timeout=10000)
            expect(page.locator(".digit img")).to_have_count(1)
            expect(page.locator("#boxes")).to_have_attribute("data-count", "1")  # its box over the drawing
            page.screenshot(path=str(ARTIFACTS / "drawn-1.png"))
            page.click("#clear")
            expect(page.locator("#number")).to_have_text("draw something")
            _stroke(page, [(220, 50), (340, 50), (260, 240)])  # a seven: across, then down to the left
            expect(page.locator("#number")).to_have_text("7", timeout=10000)
            page.screenshot(path=str(ARTIFACTS / "drawn-7.png"))
            drawing, answer = (page.locator(s).bounding_box() for s in ("#canvas", "#number"))
            page.click("#undo")
            expect(page.locator("#number")).to_have_text("draw something")
            expect(page.locator("#boxes")).to_have_attribute("data-count", "0")
        finally:
            browser.close()
    # the screenshot shows what the person saw: a drawing that reads as a seven, and an answer in black
    assert reader.read_gray(_dark(ARTIFACTS / "drawn-7.png", drawing)[4:-4, 4:-4]).number == "7"  # within the border
    assert (_dark(ARTIFACTS / "drawn-7.png", answer) == 0).any()
