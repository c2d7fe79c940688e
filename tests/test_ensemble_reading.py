"""An ensemble directory is read wherever a checkpoint is: predict, serve, export --onnx
and compare; served, it reads the test digits as `evaluate` scores them."""

import dataclasses
import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from conftest import png_bytes
from digitlab.evaluation.evaluate import each_member_probs
from digitlab.recognition.onnx_export import TOLERANCE, OnnxLogits, export_onnx
from digitlab.recognition.predictor import Predictor
from digitlab.training import recipe, train
from digitlab.runs.ensemble import load_ensemble, load_reader
from digitlab.web.app import create_app

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def ensemble(trained, tmp_path_factory):
    """The session's `trained` run and a small CNN of another seed (same validation images),
    as an ensemble directory read without test-time shifts."""
    root = tmp_path_factory.mktemp("ensemble")
    small = train(replace(recipe("fast", subset=3000, epochs=1), model="16C5-MP2-BN0.9-R-F-10", seed=1),
                  root / "seed-1", progress=False, log=lambda s: None)
    shutil.copytree(trained.best, root / "seed-0" / "best")
    members = [{"run": "seed-0", "checkpoint": "seed-0/best"}, {"run": "seed-1", "checkpoint": "seed-1/best"}]
    assert small.best == root / "seed-1" / "best"
    (root / "ensemble.json").write_text(json.dumps({"format": "digitlab.ensemble", "name": "test-ensemble",
                                                    "tta": False, "members": members}))
    return root


def test_a_served_ensemble_reads_the_test_digits_as_evaluate_scores_them(ensemble, mnist):
    predictor = Predictor.load(ensemble)  # what predict and serve load
    images = mnist.test_images[:2000]
    members = load_ensemble(ensemble).checkpoints
    evaluated = torch.stack(each_member_probs(members, images, CPU)).mean(0).numpy()  # what evaluate scores

    def served() -> np.ndarray:
        return np.concatenate([predictor.classify(images[i:i + 256].numpy()) for i in range(0, len(images), 256)])

    fast = served()  # bf16 where this CPU computes it natively, as the server reads
    predictor.precision = "fp32"
    assert np.allclose(served(), evaluated, atol=1e-5)
    assert (fast.argmax(1) == evaluated.argmax(1)).mean() >= 0.998
    assert (evaluated.argmax(1) == mnist.test_labels[:2000].numpy()).mean() >= 0.95
    assert (predictor.checkpoint.path / "rejection.json").is_file()  # calibrated on the ensemble's own reading

    seven = png_bytes(Image.fromarray(255 - mnist.test_images[0].numpy()).resize((140, 140)))
    with TestClient(create_app(predictor)) as client:
        model = client.get("/api/model").json()
        assert model["name"] == "test-ensemble" and model["parameters"] == sum(m.parameters for m in members)
        assert client.post("/api/predict", content=seven, headers={"content-type": "image/png"}).json()["number"] == "7"


def test_an_ensemble_exports_as_one_onnx_graph(ensemble, mnist, tmp_path):
    reader = load_reader(ensemble)
    assert export_onnx(reader, tmp_path / "ens.onnx") <= TOLERANCE
    images = mnist.test_images[:64]
    onnx_probs = torch.softmax(torch.from_numpy(OnnxLogits(tmp_path / "ens.onnx")(images.numpy())), 1)
    members = [load_reader(ensemble / m).model for m in ("seed-0/best", "seed-1/best")]
    with torch.no_grad():
        x = images.unsqueeze(1).float()
        mean = sum(torch.softmax(m(x), 1) for m in members) / 2
    assert torch.allclose(onnx_probs, mean, atol=1e-4)


def test_one_server_serves_a_checkpoint_and_an_ensemble_by_name(trained, ensemble, monkeypatch, mnist):
    """What each worker of `digitlab serve --model A --model ENS` builds (server.app_from_env)."""
    from digitlab.web import server
    from digitlab.web.server import SETTINGS_ENV, ServeConfig, app_from_env

    # a worker's memory policy holds for its whole process, here the rest of the suite: left
    # out (its thread count, also for the whole process, is put back by conftest)
    monkeypatch.setattr(server, "return_large_blocks_to_the_system", lambda: None)
    config = ServeConfig(models=(str(trained.best), str(ensemble)))
    monkeypatch.setenv(SETTINGS_ENV, json.dumps(dataclasses.asdict(config)))
    seven = png_bytes(Image.fromarray(255 - mnist.test_images[0].numpy()).resize((140, 140)))
    headers = {"content-type": "image/png"}
    with TestClient(app_from_env(), raise_server_exceptions=False) as client:
        assert client.get("/api/ready").status_code == 200
        listed = client.get("/api/models").json()
        names = [m["name"] for m in listed]
        assert names == [f"{trained.best.parent.name}/best", ensemble.name] and listed[0]["default"]
        assert all(m["ready"] for m in listed) and listed[1]["parameters"] > listed[0]["parameters"]
        assert client.get("/api/model", params={"model": ensemble.name}).json()["name"] == "test-ensemble"
        for name in names:
            read = client.post("/api/predict", params={"model": name}, content=seven, headers=headers)
            assert read.status_code == 200 and read.json()["number"] == "7", read.text
        unknown = client.post("/api/predict", params={"model": "nope"}, content=seven, headers=headers)
        assert unknown.status_code == 404 and names[1] in unknown.json()["detail"]
