"""In Chromium, the states of the drawing page a person meets: "not a digit", an error
from the API, an answer overtaken by a newer one, an uploaded image, and a server with
several models. Slow and failing answers are made with page.route, so what is tested is
the page's own logic (static/app.js) against a real server."""

import base64
import re
from contextlib import contextmanager
from functools import partial
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from PIL import Image

from conftest import CHROMIUM_ARGS, png_bytes, serve_in_thread
from digitlab.recognition.predictor import Predictor
from digitlab.web.app import create_app
from digitlab.web.limits import Limits
from digitlab.web.models import model_name
from test_web import _stroke

LIMITS = Limits(max_image_bytes=100_000)  # serve --max-image-bytes: a 413 costs no 5 MB upload
PREDICT = re.compile(r"/api/predict\?")
ONE = [(280, 40), (280, 240)]
TOP_BAR = [(200, 45), (285, 45)]  # drawn over ONE: a seven
HASH = [[(250, 40), (240, 240)], [(310, 40), (300, 240)], [(200, 100), (360, 100)], [(200, 180), (360, 180)]]

# Test instrumentation, not page logic: counts the readings the page sent and those it has
# taken in (answered or failed), so that a test can wait until a late answer is handled.
COUNT_READINGS = """(() => {
  window.readingsSent = window.readingsTaken = 0;
  const pageFetch = window.fetch;
  const taken = () => { window.readingsTaken += 1; };
  window.fetch = (url, init) => {
    if (!String(url).startsWith("/api/predict")) return pageFetch(url, init);
    window.readingsSent += 1;
    return pageFetch(url, init).then((response) => {
      const json = response.json.bind(response);
      response.json = () => json().finally(taken);
      return response;
    }, (err) => { taken(); throw err; });
  };
})();"""


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(reader):
    with serve_in_thread(create_app(reader, limits=LIMITS)) as url:
        yield url


@contextmanager
def opened(browser, url):
    context = browser.new_context(viewport={"width": 1100, "height": 700}, locale="en-US")
    context.add_init_script(COUNT_READINGS)
    page = context.new_page()
    page.goto(url)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def page(browser, server):
    with opened(browser, server) as page:
        yield page


def answered(page, act):
    """Do `act`; the response to the reading it sends."""
    with page.expect_response(PREDICT, timeout=10000) as response:
        act()
    return response.value


def shown(reading: dict) -> str:
    return "not a digit" if reading["rejected"] else reading["number"]


def seen(page) -> list[str]:
    """The 28x28 images shown under the answer: they tell which drawing it is for."""
    return page.locator(".digit img").evaluate_all("imgs => imgs.map((img) => img.getAttribute('src'))")


def settled(page):
    """Wait until the page has taken in the answer to every reading it sent."""
    page.wait_for_function("() => window.readingsTaken === window.readingsSent")


def decoded(data_url: str) -> bytes:
    return base64.b64decode(data_url.split(",", 1)[1])


def drawn(page, strokes, predictor) -> dict:
    """Draw `strokes`; `predictor`'s reading of the canvas (the page may read it several
    times on the way: this is the last)."""
    for points in strokes:
        _stroke(page, points)
    image = decoded(page.eval_on_selector("#canvas", "canvas => canvas.toDataURL('image/png')"))
    return predictor.read(image, with_images=True).to_json()


def expect_seen(page, reading):
    from playwright.sync_api import expect

    images = page.locator(".digit img")
    expect(images).to_have_count(len(reading["digits"]))
    for k, digit in enumerate(reading["digits"]):
        expect(images.nth(k)).to_have_attribute("src", digit["image"])


def hold_first_reading(page) -> list:
    """Holds the page's first reading in flight (its route, in the list returned); later
    ones go through."""
    held = []

    def route(route):
        if held:
            route.continue_()
        else:
            held.append(route)

    page.route(PREDICT, route)
    return held


def first_held(page, held):
    for _ in range(400):
        if held:
            return held[0]
        page.wait_for_timeout(25)
    raise AssertionError("the page sent no reading")


def test_a_shape_that_is_no_digit_shows_not_a_digit_with_the_reason(page, reader):
    from playwright.sync_api import expect

    want = drawn(page, HASH, reader)
    assert want["rejected"] and want["number"], f"the reader took the # for a digit: {want}"
    expect_seen(page, want)
    number = page.locator("#number")
    expect(number).to_have_text("not a digit")
    expect(number).to_have_class("number rejected")
    expect(number).to_have_attribute("title", f"best guess: {want['number']}")
    expect(page.locator("#status")).to_have_text(want["reason"])


def test_clearing_a_rejected_reading_leaves_no_best_guess(page, reader):
    from playwright.sync_api import expect

    want = drawn(page, HASH, reader)
    assert want["rejected"] and want["number"], f"the reader took the # for a digit: {want}"
    expect_seen(page, want)
    expect(page.locator("#number")).to_have_text("not a digit")
    page.click("#clear")
    expect(page.locator("#number")).to_have_text("draw something")
    expect(page.locator("#status")).to_have_text("")
    assert page.eval_on_selector("#number", "n => n.title") == ""  # else the cleared drawing's best guess


ERRORS = [  # a file for the upload button, the status the server answers, a fragment of its detail
    ({"name": "note.png", "mimeType": "image/png", "buffer": b"hello, not an image"}, 422, "not a readable image"),
    ({"name": "huge.png", "mimeType": "image/png", "buffer": bytes(LIMITS.max_image_bytes + 1)}, 413, "bytes"),
]


def test_an_error_answer_shows_its_message_not_the_last_answer(page):
    from playwright.sync_api import expect

    def error_replaces_the_answer(response, status, fragment):
        assert response.status == status, response.text()
        detail = response.json()["detail"]
        assert fragment in detail, detail
        expect(page.locator("#status")).to_have_text(detail)
        expect(page.locator("#number")).to_have_class("number empty")
        expect(page.locator(".digit")).to_have_count(0)
        expect(page.locator("#boxes")).to_have_attribute("data-count", "0")

    for file, status, fragment in ERRORS:
        page.click("#clear")
        reading = answered(page, lambda: _stroke(page, ONE)).json()
        expect(page.locator("#number")).to_have_text(shown(reading))
        response = answered(page, partial(page.set_input_files, "#file", file))
        error_replaces_the_answer(response, status, fragment)

    # a server that cannot read now (a model that failed to load): a reading of the canvas
    page.click("#clear")
    reading = answered(page, lambda: _stroke(page, ONE)).json()
    expect(page.locator("#number")).to_have_text(shown(reading))
    detail = "model 'default/best' is not ready: no checkpoint at runs/default/best"
    page.route(PREDICT, lambda route: route.fulfill(status=503, json={"detail": detail}))
    error_replaces_the_answer(answered(page, lambda: _stroke(page, TOP_BAR)), 503, detail)


def test_an_older_answer_arriving_last_is_dropped(page):
    from playwright.sync_api import expect

    held = hold_first_reading(page)
    _stroke(page, ONE)
    older = first_held(page, held)
    newer = answered(page, lambda: _stroke(page, TOP_BAR)).json()
    expect(page.locator("#number")).to_have_text(shown(newer))
    older = answered(page, older.continue_).json()
    assert older["digits"] != newer["digits"]
    settled(page)
    assert page.inner_text("#number") == shown(newer)
    assert seen(page) == [d["image"] for d in newer["digits"]]


def test_an_answer_for_a_drawing_since_cleared_is_dropped(page):
    from playwright.sync_api import expect

    held = hold_first_reading(page)
    _stroke(page, ONE)
    older = first_held(page, held)
    page.click("#clear")
    expect(page.locator("#number")).to_have_text("draw something")
    assert answered(page, older.continue_).json()["digits"]
    settled(page)
    assert page.inner_text("#number") == "draw something"
    assert seen(page) == []


def test_an_uploaded_image_is_read_and_its_answer_shown(page, reader, mnist):
    from playwright.sync_api import expect

    seven = png_bytes(Image.fromarray(255 - mnist.test_images[0].numpy()).resize((140, 140)))
    want = reader.read(seven).to_json()
    assert want["number"] == str(int(mnist.test_labels[0])) and not want["rejected"], want
    file = {"name": "seven.png", "mimeType": "image/png", "buffer": seven}
    response = answered(page, lambda: page.set_input_files("#file", files=[file]))
    assert response.ok and response.json()["file"] == "seven.png"
    expect(page.locator("#number")).to_have_text(want["number"])
    expect(page.locator(".digit")).to_have_count(len(want["digits"]))
    expect(page.locator("#boxes")).to_have_attribute("data-count", "0")  # the boxes fit the canvas, not the file


def read_by(response, predictor) -> bool:
    """Whether the answer is `predictor`'s reading of the drawing sent."""
    want = predictor.read(decoded(response.request.post_data_json["image"]), with_images=True).to_json()
    got = response.json()
    probabilities = [[d["probabilities"] for d in r["digits"]] for r in (got, want)]
    return got["number"] == want["number"] and len(got["digits"]) == len(want["digits"]) and \
        np.allclose(*probabilities, atol=1e-5)


def bars(reading: dict) -> list[str]:
    return [f"{k}: {100 * p:.1f}%" for d in reading["digits"] for k, p in enumerate(d["probabilities"])]


def test_the_model_picker_lists_the_models_and_the_one_picked_answers(browser, reader, trained):
    from playwright.sync_api import expect

    other = Predictor.load(trained.best, warm=False)
    models = {model_name(p.checkpoint.path): p for p in (reader, other)}  # named as serve names them
    first, second = models
    with serve_in_thread(create_app(models=models)) as url, opened(browser, url) as page:
        expect(page.locator("#picker")).to_be_visible()
        expect(page.locator("#model-select option")).to_have_text([first, second])
        expect(page.locator("#model-select")).to_have_value(first)  # the first is the default
        steps = [(first, second, lambda: _stroke(page, ONE)),
                 (second, first, lambda: page.select_option("#model-select", second))]
        for name, other, act in steps:
            response = answered(page, act)
            assert parse_qs(urlsplit(response.url).query).get("model") == [name]
            assert read_by(response, models[name]) and not read_by(response, models[other])
            info = models[name].info
            expect(page.locator("#model")).to_contain_text(f"{info['name']}, {info['parameters']:,} parameters")
            settled(page)
            assert page.locator(".digit .bar").evaluate_all("bs => bs.map((b) => b.title)") == bars(response.json())
