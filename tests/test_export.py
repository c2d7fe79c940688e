import dataclasses
import io
import json
import resource
import time

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import assert_clean_error, run_cli
from digitlab.models import resolve_model
from digitlab.recognition.onnx_export import OnnxLogits
from digitlab.recognition.predictor import Predictor
from digitlab.runs.checkpoint import load_checkpoint, save_checkpoint


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
    fp32_reader = dataclasses.replace(reader, precision="fp32")  # the ONNX graph computes in fp32
    for i in range(5):
        buf = io.BytesIO()
        Image.fromarray(255 - mnist.test_images[i].numpy()).resize((90, 90)).save(buf, format="PNG")
        a, b = fp32_reader.read(buf.getvalue()), onnx_reader.read(buf.getvalue())
        assert a.number == b.number == reader.read(buf.getvalue()).number
        assert abs(a.digits[0].confidence - b.digits[0].confidence) < 1e-4
    path = tmp_path / "one.png"
    path.write_bytes(buf.getvalue())
    proc = run_cli("predict", path, "--model", reader.checkpoint.path, "--runtime", "onnx")
    assert proc.returncode == 0 and proc.stdout.startswith(f"{path}: {int(mnist.test_labels[4])}"), proc.stdout


def test_bench_quick_writes_valid_json_within_a_minute(tmp_path, mnist):
    out = tmp_path / "bench.json"
    t0 = time.perf_counter()
    proc = run_cli("bench", "--quick", "--out", out, timeout=120, program=True)  # its peak memory: a process of its own
    seconds = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr
    assert seconds < 60, seconds
    result = json.loads(out.read_text())
    assert result["matmul_gflops"]["fp32"] > 1 and result["matmul_gflops"]["bf16"] > 1
    assert set(result["training"]) >= {"report-ann", "report-cnn-first", "report-cnn-final"}
    final = result["training"]["report-cnn-final"]
    assert final["train_gflop_per_image"] == pytest.approx(3 * 2 * (26 * 26 * 64 * 9 + 11 * 11 * 128 * 64 * 9
                                                                   + 3200 * 128 + 128 * 10) / 1e9)
    assert 0 < final["bf16_fraction_of_peak"] < 1
    inference = result["inference"]["report-cnn-final"]
    assert inference["onnx_max_abs_difference"] < 1e-4
    assert 0 < inference["onnx_single"]["p50_ms"] <= inference["onnx_single"]["p99_ms"]
    # Each figure is a median of steps timed one after another within the run, so one step of
    # each took at least that long: together they cannot add up to more than the run took.
    batch = 256  # the batch the bench trains with, and its inference batch
    rates = [row[k] for row in result["training"].values()
             for k in ("fp32_images_per_s", "bf16_images_per_s", "reference_images_per_s")]
    rates += [inference["torch_batch256_images_per_s"], inference["onnx_batch256_images_per_s"]]
    latencies_ms = [inference["torch_single"]["p50_ms"], inference["onnx_single"]["p50_ms"]]
    timed = sum(batch / r for r in rates) + sum(latencies_ms) / 1000
    assert timed < seconds, (timed, seconds)
    for row in result["training"].values():  # nor does a plain PyTorch loop outrun a matmul
        assert row["reference_images_per_s"] * row["train_gflop_per_image"] < result["matmul_gflops"]["fp32"], row
    # the bench's peak memory: at least all of MNIST, which it loads, and at most what the
    # kernel counted for the largest child process this test process has waited for
    mnist_mb = (mnist.train_images.nbytes + mnist.test_images.nbytes) / 2**20
    assert mnist_mb < result["peak_memory_mb"] <= resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
