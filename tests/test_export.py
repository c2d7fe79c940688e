import io

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import assert_clean_error, run_cli
from digitlab.models import resolve_model
from digitlab.recognition.onnx_export import OnnxLogits
from digitlab.recognition.predictor import Predictor
from digitlab.training import load_checkpoint, save_checkpoint


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.manual_seed(0)
    spec = resolve_model("8C3-BN-R-MP2-F-D0.2-16-R-10-SM")
    return save_checkpoint(tmp_path_factory.mktemp("tiny") / "ckpt", spec.build().eval(), spec)


def test_export_round_trip_on_a_tiny_model(tiny, tmp_path, mnist):
    out = tmp_path / "tiny.onnx"
    proc = run_cli("export", tiny, "--onnx", out)
    assert proc.returncode == 0, proc.stderr
    assert "ONNX Runtime matches PyTorch within" in proc.stdout
    difference = float(proc.stdout.split("within ")[1].split()[0])
    assert difference < 1e-4
    model = load_checkpoint(tiny).model
    images = mnist.test_images[:33]
    with torch.no_grad():
        expected = model(images.unsqueeze(1).float()).numpy()
    got = OnnxLogits(out)(images.numpy())
    assert got.shape == (33, 10) and np.abs(got - expected).max() < 1e-4
    assert_clean_error(run_cli("export", tiny, "--onnx", tmp_path / "tiny.onnx" / "x.onnx"), "cannot write")


def test_predict_with_onnx_runtime_reads_like_torch(reader, mnist, tmp_path):
    onnx_reader = Predictor.load(reader.checkpoint.path, runtime="onnx")
    assert onnx_reader.runtime == "onnx" and (reader.checkpoint.path / "model.onnx").exists()
    for i in range(5):
        buf = io.BytesIO()
        Image.fromarray(255 - mnist.test_images[i].numpy()).resize((90, 90)).save(buf, format="PNG")
        a, b = reader.read(buf.getvalue()), onnx_reader.read(buf.getvalue())
        assert a["number"] == b["number"]
        assert abs(a["digits"][0]["confidence"] - b["digits"][0]["confidence"]) < 1e-4
    path = tmp_path / "one.png"
    path.write_bytes(buf.getvalue())
    proc = run_cli("predict", path, "--model", reader.checkpoint.path, "--runtime", "onnx")
    assert proc.returncode == 0 and proc.stdout.startswith(f"{path}: {int(mnist.test_labels[4])}"), proc.stdout
