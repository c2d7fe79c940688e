"""Inside the network: every layer's output, the attribution, the API, the CLI and the page."""

import base64
import io
import json
import re

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from conftest import CHROMIUM_ARGS, assert_clean_error, png_bytes, run_cli, serve_in_thread
from digitlab.explain import describe, explain_digit
from digitlab.explain.layers import layer_outputs
from digitlab.models.presets import list_presets
from digitlab.models.summary import summarize
from digitlab.runs.checkpoint import load_checkpoint
from digitlab.web.app import create_app
from test_web import ARTIFACTS, BAD_BODIES, _stroke


def _expected(summary_row: dict) -> tuple[int, ...]:
    """A summary row's output shape as the explanation gives it: channels first."""
    shape = summary_row["output_shape"]
    return (shape[-1], *shape[:-1]) if len(shape) == 3 else tuple(shape)


@pytest.mark.parametrize("preset", [p.name for p in list_presets()])
def test_every_layer_matches_the_model_summary(preset, mnist):
    spec = next(p for p in list_presets() if p.name == preset)
    model = spec.build().eval()
    outputs = layer_outputs(model, mnist.test_images[0].numpy())
    rows = summarize(spec)["layers"]
    assert [(o.token, o.name, o.shape) for o in outputs] == [(r["token"], r["layer"], _expected(r)) for r in rows]
    # run in spec order, the layers end where the model's own (reordered) forward does
    with torch.no_grad():
        logits = model(mnist.test_images[:1].unsqueeze(1).float())[0]
    last = outputs[-1].values if outputs[-1].token != "SM" else outputs[-2].values
    np.testing.assert_allclose(last, logits.numpy(), rtol=1e-4, atol=1e-4)


def test_attribution_stays_where_the_digit_is(trained, mnist):
    """A digit shrunk into the top-left corner of a blank input: the map is near zero
    everywhere else, and adds up to the change in log-probability from a blank page."""
    model = load_checkpoint(trained.best).model
    digit = Image.fromarray(mnist.test_images[3].numpy()).resize((14, 14), Image.BILINEAR)
    image = np.zeros((28, 28), np.uint8)
    image[:14, :14] = np.asarray(digit)
    e = explain_digit(model, image)
    values = np.abs(e.attribution.values)
    inside, outside = values[:14, :14].sum(), values.sum() - values[:14, :14].sum()
    assert inside > 0.05 and outside < 0.01 * inside, (inside, outside)
    a = e.attribution
    assert a.values.sum() == pytest.approx(a.log_prob - a.blank_log_prob, abs=0.05 * abs(a.log_prob - a.blank_log_prob))
    assert a.target == e.digit == int(np.argmax(e.probabilities))
    # the numbers in JSON: every layer described, maps bounded, probabilities summing to 1
    d = describe(e)
    assert len(d["layers"]) == len(e.layers) and abs(sum(d["probabilities"]) - 1) < 1e-3
    assert all(len(layer.get("channels", [])) <= 64 for layer in d["layers"])


@pytest.fixture(scope="module")
def client(reader):
    with TestClient(create_app(reader), raise_server_exceptions=False) as c:
        yield c


def test_explain_answers_per_digit_within_a_megabyte(client, mnist):
    pair = np.concatenate([mnist.test_images[0].numpy(), mnist.test_images[1].numpy()], 1)  # 7 then 2
    body = png_bytes(Image.fromarray(255 - pair).resize((224, 112)))
    response = client.post("/api/explain", content=body, headers={"content-type": "image/png"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["number"] == "72" and answer["model"] == "digitlab-cnn"
    for d in answer["digits"]:
        e = d["explanation"]
        assert e["digit"] == d["digit"] and len(json.dumps(e)) < 1_000_000
        for layer in e["layers"]:
            if len(layer["shape"]) == 3:
                c, h, w = layer["shape"]
                assert len(layer["channels"]) == min(64, c) and layer["channels"] == sorted(layer["channels"])
                grid = Image.open(io.BytesIO(base64.b64decode(layer["maps"].split(",", 1)[1])))
                rows = -(-len(layer["channels"]) // layer["columns"])
                assert grid.size == (layer["columns"] * (w + 1) - 1, rows * (h + 1) - 1)
            else:
                assert len(layer["values"]) == layer["shape"][0]
        assert e["attribution"]["image"].startswith("data:image/png;base64,")
    one = client.post("/api/explain?digit=1", content=body, headers={"content-type": "image/png"}).json()
    assert "explanation" not in one["digits"][0] and one["digits"][1]["explanation"]["digit"] == 2
    missing = client.post("/api/explain?digit=2", content=body, headers={"content-type": "image/png"})
    assert missing.status_code == 422 and "2 digit(s)" in missing.json()["detail"]


@pytest.mark.parametrize("kwargs, status, fragment", BAD_BODIES)
def test_bad_bodies_get_the_answers_predict_gives(client, kwargs, status, fragment):
    predicted, explained = client.post("/api/predict", **kwargs), client.post("/api/explain", **kwargs)
    assert explained.status_code == predicted.status_code == status
    assert explained.json() == predicted.json()


def test_explain_cli_writes_pictures_and_json(trained, mnist, tmp_path):
    image = tmp_path / "seven.png"
    image.write_bytes(png_bytes(Image.fromarray(255 - mnist.test_images[0].numpy()).resize((112, 112))))
    out = tmp_path / "explained"
    proc = run_cli("explain", image, "--model", trained.best, "--out", out)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads((out / "explanation.json").read_text())
    e = answer["digits"][0]["explanation"]
    assert len(e["layers"]) == len(summarize(load_checkpoint(trained.best).model_spec)["layers"])
    for picture in [e["input"], e["attribution"]["picture"], *(layer["picture"] for layer in e["layers"])]:
        assert Image.open(out / picture).size[0] >= 28
    assert_clean_error(run_cli("explain", image, "--model", trained.best, "--out", out, "--digit", "3"),
                       "--digit 3", "choose 1 to 1")
    assert (out / "explanation.json").exists()  # the earlier explanation is kept


@pytest.fixture(scope="module")
def cnn_final(tmp_path_factory):
    """The report's final CNN, briefly trained: the panel must show its 18 layers."""
    from digitlab.recognition.predictor import Predictor
    from digitlab.training import recipe, train

    run = train(recipe("report-cnn-final", subset=2000, epochs=1), tmp_path_factory.mktemp("final"), progress=False,
                log=lambda s: None)
    return Predictor.load(run.best)


THREE = [(230, 50), (330, 55), (285, 135), (340, 185), (300, 240), (225, 235)]


def test_the_panel_shows_every_layer_of_two_models_in_chromium(reader, cnn_final):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        try:
            for predictor in (reader, cnn_final):
                rows = summarize(predictor.checkpoint.model_spec)["layers"]
                want = [["maps", min(64, _expected(r)[0])] if len(r["output_shape"]) == 3
                        else ["units", _expected(r)[0]] for r in rows]
                with serve_in_thread(create_app(predictor)) as url:
                    page = browser.new_page(viewport={"width": 1100, "height": 900})
                    page.goto(url)
                    _stroke(page, THREE)
                    expect(page.locator(".open-inside")).to_have_count(1, timeout=10000)
                    if predictor is reader:
                        expect(page.locator("#number")).to_have_text("3")
                    page.click(".open-inside")
                    expect(page.locator("#inside")).to_have_attribute("data-layers", str(len(rows)), timeout=10000)
                    shown = page.evaluate("""() => [...document.querySelectorAll('#layers .layer')].map(s =>
                        s.dataset.maps ? ['maps', s.querySelectorAll('.map').length] : ['units', +s.dataset.units])""")
                    assert shown == want
                    expect(page.locator("#inside-attribution")).to_have_attribute("src", re.compile("^data:image/png"))
                    name = predictor.checkpoint.model_spec.name
                    page.screenshot(path=str(ARTIFACTS / f"inside-{name}.png"), full_page=True)
                    # it follows the drawing: another stroke, and the panel shows the new reading's input
                    before = page.get_attribute("#inside-input", "src")
                    _stroke(page, [(300, 140), (330, 140)])
                    page.wait_for_function(f"document.getElementById('inside-input').src !== {json.dumps(before)}",
                                           timeout=10000)
                    page.click("#inside-close")
                    expect(page.locator("#inside")).to_be_hidden()
                    page.close()
        finally:
            browser.close()
    assert (ARTIFACTS / "inside-report-cnn-final.png").stat().st_size > 10000
