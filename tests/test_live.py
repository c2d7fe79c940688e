"""Serve first, improve live: a stand-in served until the run's checkpoint is there, live
swaps of a checkpoint that changes (and refusal of a broken one), the run trained behind
the page with its progress, and the page showing it."""

import json
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from conftest import CHROMIUM_ARGS, free_port, png_bytes, serve_in_thread
from digitlab.errors import DigitlabError
from digitlab.recognition.group_judge import GROUPS_DIR
from digitlab.recognition.predictor import Predictor
from digitlab.recognition.rejection import CALIBRATION, rejection_threshold
from digitlab.runs.checkpoint import load_checkpoint
from digitlab.runs.progress import Progress, read_progress
from digitlab.training.config import recipe
from digitlab.training.full_run import STAGES, is_complete, train_full_run
from digitlab.training.groups import GroupsConfig
from digitlab.training.trainer import train
from digitlab.web.app import create_app
from digitlab.web.live import Source


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """A weak stand-in: the fast recipe on 1,000 images, one epoch."""
    return train(recipe("fast", subset=1000), tmp_path_factory.mktemp("quick"), progress=False,
                 log=lambda s: None).best


def put(checkpoint: Path, target: Path, corrupt: bool = False, calibrated: bool = True) -> None:
    """Write a checkpoint at `target` as training does: whole, by a rename; `corrupt` flips
    bytes of its weights (its model.json still names the old SHA-256); `calibrated=False`
    leaves out its "not a digit" calibration, as training writes it."""
    staged = target.parent / f".staged-{time.monotonic_ns()}"
    shutil.copytree(checkpoint, staged)
    if not calibrated:
        (staged / CALIBRATION).unlink(missing_ok=True)
    if corrupt:
        weights = staged / "weights.safetensors"
        data = bytearray(weights.read_bytes())
        data[-64:] = bytes(64)
        weights.write_bytes(bytes(data))
    if target.exists():
        old = target.parent / f".old-{time.monotonic_ns()}"
        target.rename(old)
        staged.rename(target)
        shutil.rmtree(old)
    else:
        staged.rename(target)


def calibrate(checkpoint: Path) -> None:
    """What the full run does after the classifier: its "not a digit" calibration, written beside it."""
    rejection_threshold(load_checkpoint(checkpoint, torch.device("cpu")), torch.device("cpu"))


def images(mnist, count=12):
    """Test digits drawn as people draw them: dark on white, 4 times MNIST's size."""
    return [png_bytes(Image.fromarray(255 - np.kron(mnist.test_images[k].numpy(), np.ones((4, 4), np.uint8))))
            for k in range(count)]


def answer(reading: dict) -> tuple:
    """What must be one model's: the number and each digit's confidence."""
    return reading["number"], tuple(round(d["confidence"], 4) for d in reading["digits"])


def test_a_standin_serves_until_the_checkpoint_is_there_then_swaps_refuses_a_corrupt_one(trained, quick, tmp_path,
                                                                                        mnist, caplog):
    run = tmp_path / "run"
    run.mkdir()
    target = run / "best"
    app = create_app(models={"m": Source(target, partial(Predictor.load, warm=False), standin=quick)})
    image = images(mnist, 1)[0]
    with TestClient(app) as client:
        info = client.get("/api/model").json()
        assert info["path"] == str(quick) and info["standin_for"] == str(target) and info["training"] is None
        Progress(run, STAGES).update("classifier", state="training", done=1, total=6, unit="epochs")
        assert client.get("/api/model").json()["training"]["stages"]["classifier"]["done"] == 1
        slots = app.state.models
        assert slots.refresh() is None and client.get("/api/model").json()["path"] == str(quick)  # nothing there yet

        put(trained.best, target, calibrated=False)
        assert slots.refresh() is None and client.get("/api/model").json()["path"] == str(quick)  # its run calibrates it first
        calibrate(target)
        slots.refresh()
        info = client.get("/api/model").json()
        assert info["path"] == str(target) and info["standin_for"] is None
        expected = Predictor.load(trained.best).read(image).to_json()
        assert answer(client.post("/api/predict", content=image, headers={"content-type": "image/png"}).json()) \
            == answer(expected)

        put(trained.best, target, corrupt=True)  # a broken one in place of the new one
        with caplog.at_level("WARNING", logger="digitlab.web"):
            slots.refresh()
            slots.refresh()  # the same files are not tried twice
        assert sum("refused the new checkpoint" in r.message for r in caplog.records) == 1
        assert client.get("/api/model").json()["path"] == str(target)
        assert answer(client.post("/api/predict", content=image, headers={"content-type": "image/png"}).json()) \
            == answer(expected)
        metrics = client.get("/metrics").text
        assert 'digitlab_model_swaps_total{outcome="refused"} 1.0' in metrics
        assert 'digitlab_model_swaps_total{outcome="swapped"} 1.0' in metrics

        put(quick, target)  # a good one again: no longer a stand-in, so any change is taken
        slots.refresh()
        assert answer(client.post("/api/predict", content=image, headers={"content-type": "image/png"}).json()) \
            == answer(Predictor.load(quick).read(image).to_json())


def test_two_workers_under_load_swap_with_no_failed_request_and_keep_serving_past_a_corrupt_one(
        trained, quick, tmp_path, mnist):
    run = tmp_path / "run"
    run.mkdir()
    target = run / "best"
    drawn = images(mnist)
    old = [answer(Predictor.load(quick).read(x).to_json()) for x in drawn]
    new = [answer(Predictor.load(trained.best).read(x).to_json()) for x in drawn]
    assert sum(a != b for a, b in zip(old, new)) >= len(drawn) - 1  # every answer tells its model
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "digitlab", "serve", "--model", str(target), "--standin",
                               str(quick), "--workers", "2", "--watch", "0.3", "--no-store", "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    got, stop, failures = [], threading.Event(), []

    def client(offset):
        with httpx.Client(timeout=30) as http:
            k = offset
            while not stop.is_set():
                r = http.post(f"{url}/api/predict", content=drawn[k % len(drawn)],
                              headers={"content-type": "image/png"})
                if r.status_code != 200:
                    failures.append(r.status_code)
                else:
                    got.append((k % len(drawn), answer(r.json()), time.monotonic()))
                k += 1

    def swaps(outcome):
        text = httpx.get(f"{url}/metrics").text
        line = [x for x in text.splitlines() if x.startswith(f'digitlab_model_swaps_total{{outcome="{outcome}"}}')]
        return float(line[0].split()[-1]) if line else 0.0

    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(f"{url}/api/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        threads = [threading.Thread(target=client, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        put(trained.best, target)
        deadline = time.time() + 60
        while swaps("swapped") < 2 and time.time() < deadline:  # both workers
            time.sleep(0.2)
        assert swaps("swapped") == 2
        swapped_at = time.monotonic()
        put(trained.best, target, corrupt=True)
        while swaps("refused") < 2 and time.time() < deadline:
            time.sleep(0.2)
        assert swaps("refused") == 2
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        server.terminate()
        log = server.communicate(timeout=30)[0]
    assert not failures, failures
    assert all(a in (old[k], new[k]) for k, a, _ in got), "an answer from neither model"
    assert any(a == old[k] for k, a, _ in got) and any(a == new[k] for k, a, _ in got)
    after = [(k, a) for k, a, t in got if t > swapped_at + 0.5]
    assert len(after) >= 10 and all(a == new[k] for k, a in after)  # the corrupt one never answered
    assert log.count("refused the new checkpoint") == 2 and log.count("switched to the new checkpoint") == 2


def test_the_page_shows_the_training_and_then_the_new_model_without_a_reload(trained, quick, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    run = tmp_path / "run"
    run.mkdir()
    target = run / "best"
    progress = Progress(run, STAGES)
    progress.update("classifier", state="training", done=2, total=6, unit="epochs", detail="val accuracy 0.9890")
    app = create_app(models={"m": Source(target, partial(Predictor.load, warm=False), standin=quick)}, watch=0.3)
    quick_name = json.loads((quick / "model.json").read_text())["model"]["name"]
    new_name = json.loads((trained.best / "model.json").read_text())["model"]["name"]
    assert quick_name != new_name
    with serve_in_thread(app) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(url)
            expect(page.locator("#model")).to_contain_text(quick_name)
            expect(page.locator("#model")).to_contain_text("stand-in")
            expect(page.locator("#training")).to_have_text("training the classifier 2/6 epochs (val accuracy 0.9890)")
            progress.update("group judge", state="training", done=1, total=6, unit="epochs")
            expect(page.locator("#training")).to_have_text(
                "training the classifier 2/6 epochs (val accuracy 0.9890), the group judge 1/6 epochs", timeout=15000)
            progress.update("classifier", state="done")
            put(trained.best, target)
            calibrate(target)
            expect(page.locator("#model")).to_contain_text(new_name, timeout=15000)
            expect(page.locator("#training")).to_have_text("training the group judge 1/6 epochs", timeout=15000)
            progress.finish()
            page.reload()
            expect(page.locator("#training")).to_be_hidden()
            expect(page.locator("#model")).not_to_contain_text("stand-in")
        finally:
            browser.close()


def test_the_full_run_trains_each_stage_once_with_its_progress(tmp_path):
    run = tmp_path / "run"
    cfg = replace(recipe("default", subset=1000, epochs=2), negatives=None, degrade=None)
    groups = GroupsConfig(ones=200, several=150, nots=200, epochs=1, val_groups=40)
    seen = []
    best = train_full_run(run, progress=False, log=seen.append, cfg=cfg, groups=groups)
    assert best == run / "best" and (run / GROUPS_DIR / "model.json").exists()
    assert (best / "rejection.json").exists() and is_complete(run, cfg)
    found = read_progress(run)
    assert found["state"] == "done" and all(s["state"] == "done" for s in found["stages"].values())
    assert found["stages"]["classifier"]["done"] == 2 and found["stages"]["group judge"]["done"] == 1
    assert sum(line.startswith("epoch") for line in seen) == 2 + 1  # the classifier's, then the judge's
    seen.clear()
    train_full_run(run, progress=False, log=seen.append, cfg=cfg, groups=groups)  # complete: nothing to train
    assert not any("epoch" in line for line in seen)
    with pytest.raises(DigitlabError, match="cannot resume"):  # a run made with another config stays as it is
        train_full_run(run, progress=False, log=seen.append, cfg=replace(cfg, epochs=3, lr=1e-3), groups=groups)
    assert read_progress(run)["state"] == "failed" and "classifier" in read_progress(run)["detail"]
