"""In Chromium: a person picks a model, draws, says the reading is wrong, and the drawing is
kept with the label they gave; a server started with --no-store shows no such buttons."""

from dataclasses import replace

from conftest import CHROMIUM_ARGS, serve_in_thread
from digitlab.recognition.predictor import Predictor
from digitlab.store import NOT_A_DIGIT, open_store
from digitlab.web.app import create_app
from test_web import ARTIFACTS, _stroke


def test_a_person_corrects_a_reading_and_the_sample_is_stored(reader, trained, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    # a second model, other weights, that doubts every shape (no top probability reaches 1.01):
    # the page shows which of the two read the drawing
    doubting = replace(Predictor.load(trained.best, warm=False), threshold=1.01)
    assert doubting.weights_sha256 != reader.weights_sha256
    store = open_store(tmp_path / "samples.db")
    two = {"doubting": doubting, "reader": reader}  # serve --model A --model B: the first is the default
    with serve_in_thread(create_app(models=two, store=store)) as url, serve_in_thread(create_app(reader)) as off, \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 700})
            page.goto(url)
            expect(page.locator("#samples")).to_have_text("0 samples collected ·")
            expect(page.locator("#correct")).to_be_hidden()  # nothing read yet
            expect(page.locator("#model-select option")).to_have_count(2)
            _stroke(page, [(280, 40), (280, 240)])  # a one: one stroke down
            expect(page.locator("#number")).to_have_text("not a digit", timeout=10000)  # the default doubts it
            page.select_option("#model-select", "reader")
            expect(page.locator("#number")).to_have_text("1", timeout=10000)
            page.click("#correct button[data-label='7']")  # "Wrong? It is a 7"
            expect(page.locator("#samples")).to_have_attribute("data-count", "1")
            expect(page.locator("#saved")).to_contain_text('kept as "7"')
            page.screenshot(path=str(ARTIFACTS / "corrected.png"))
            page.click("#correct button[data-label='not a digit']")
            expect(page.locator("#samples")).to_have_text("2 samples collected ·")

            page.goto(off)  # serve --no-store
            _stroke(page, [(280, 40), (280, 240)])
            expect(page.locator("#number")).to_have_text("1", timeout=10000)
            expect(page.locator("#correct")).to_be_hidden()
            expect(page.locator("#samples")).to_be_hidden()
            expect(page.locator("#picker")).to_be_hidden()  # one model: no picker
        finally:
            browser.close()
    stored = store.samples()
    store.close()
    assert [s.label for s in stored] == [7, NOT_A_DIGIT]
    assert stored[0].reading == "1" and stored[0].pixels.max() > 200  # the one the model saw, as drawn
    assert [s.model for s in stored] == ["reader"] * 2  # the model picked read them
    assert all(s.weights_sha256 == reader.weights_sha256 and not s.rejected for s in stored)
    assert stored[0].drawing.startswith(b"\x89PNG")
