"""`digitlab bench`: how fast this machine trains and serves the models, in one JSON file.

Measured, in one process: matmul GFLOP/s in fp32 and bf16; for every preset, training
images/second of our trainer in fp32 and bf16 and of a plain PyTorch loop
(TensorDataset + DataLoader, fp32, NCHW, stock layers, the same architecture and
batch), with the fraction of the matmul peak each achieves; single-image latency
(p50/p99) and batch-256 throughput with PyTorch and ONNX Runtime; peak memory.
Without --quick it also times the `fast` recipe to 99% test accuracy over seeds 0-4.
Warm-up steps are excluded from every timing; figures are medians.
"""

from __future__ import annotations

import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

from .data.mnist import load_mnist
from .device import cpu_has_fast_bf16
from .models.build import DigitNet
from .models.layers import Dropout, Flatten
from .models.presets import list_presets
from .models.spec import layer_shapes, parse_spec
from .training.config import TrainConfig


def forward_flops(spec: str) -> int:
    """Multiply-adds x 2 of one image's forward pass through the convolutions and dense layers."""
    layers = parse_spec(spec)
    shapes = [(1, 28, 28)] + layer_shapes(spec, layers)
    flops = 0
    for layer, before, after in zip(layers, shapes, shapes[1:]):
        if layer.kind == "conv":
            flops += 2 * after[0] * after[1] * after[2] * before[0] * layer.args["kernel"] ** 2
        elif layer.kind == "dense":
            flops += 2 * before[0] * after[0]
    return flops


def matmul_gflops(dtype: torch.dtype, n: int, seconds: float) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    runs, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        runs += 1
    return 2 * n**3 * runs / (time.perf_counter() - t0) / 1e9


def reference_model(spec: str) -> nn.Module:
    """The same architecture as a plain PyTorch user runs it: stock dropout and flatten, layers
    in spec order (no pooling-before-activation reordering), NCHW."""
    model = DigitNet(spec)
    for i, layer in enumerate(model.layers):
        if isinstance(layer, Dropout):
            model.layers[i] = nn.Dropout(layer.p)
        elif isinstance(layer, Flatten):
            model.layers[i] = nn.Flatten()
    model.plan = list(range(len(model.layers)))
    return model


def reference_speed(spec: str, x: torch.Tensor, y: torch.Tensor, batch_size: int, batches: int) -> float:
    """Images/second of TensorDataset + DataLoader, fp32, NCHW, Adam; first 3 batches are warm-up."""
    torch.manual_seed(0)
    model = reference_model(spec).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loader = DataLoader(TensorDataset(x.float(), y), batch_size=batch_size, shuffle=True)
    times = []
    for i, (xb, yb) in enumerate(loader):
        if i == batches + 3:
            break
        t0 = time.perf_counter()
        loss = nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return batch_size / statistics.median(times[3:])


def trainer_speed(spec: str, precision: str, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                  batches: int) -> float:
    """Images/second of digitlab's training step (index slices of one resident tensor)."""
    from .training.trainer import Trainer

    cfg = TrainConfig(model=spec, batch_size=batch_size, precision=precision, augment=None)
    trainer = Trainer(cfg, None, progress=False, log=lambda s: None)
    perm = torch.randperm(len(y))
    times = []
    for i in range(batches + 3):
        idx = perm[(i * batch_size) % (len(y) - batch_size):][:batch_size]
        t0 = time.perf_counter()
        trainer.step(x[idx], y[idx], 1e-3)
        times.append(time.perf_counter() - t0)
    return batch_size / statistics.median(times[3:])


def latency(fn: Callable[[], object], runs: int) -> dict:
    for _ in range(5):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99))}


def inference(spec: str, images: torch.Tensor, runs: int) -> dict:
    """Single-image latency and batch-256 throughput, PyTorch (fp32, eval) and ONNX Runtime."""
    from .models.inference import place_model
    from .models.presets import ModelSpec
    from .recognition.onnx_export import OnnxLogits, export_onnx
    from .runs.checkpoint import load_checkpoint, save_checkpoint

    torch.manual_seed(0)
    model_spec = ModelSpec(spec, spec)
    model = place_model(model_spec.build(), "cpu").eval()
    one, batch = images[:1].unsqueeze(1).float(), images[:256].unsqueeze(1).float()
    one_cl, batch_cl = (t.contiguous(memory_format=torch.channels_last) for t in (one, batch))
    out = {}
    with torch.no_grad():
        out["torch_single"] = latency(lambda: model(one_cl), runs)
        out["torch_batch256_images_per_s"] = 256 / (latency(lambda: model(batch_cl), max(5, runs // 10))["p50_ms"] / 1000)
    with tempfile.TemporaryDirectory() as d:
        ckpt = load_checkpoint(save_checkpoint(Path(d) / "ckpt", model, model_spec))
        out["onnx_max_abs_difference"] = export_onnx(ckpt, Path(d) / "m.onnx")
        onnx = OnnxLogits(Path(d) / "m.onnx")
        u1, u256 = images[:1].numpy(), images[:256].numpy()
        out["onnx_single"] = latency(lambda: onnx(u1), runs)
        out["onnx_batch256_images_per_s"] = 256 / (latency(lambda: onnx(u256), max(5, runs // 10))["p50_ms"] / 1000)
    return out


def time_to_accuracy(seeds: int = 5) -> dict:
    """Training seconds and test accuracy of the `fast` recipe for several seeds."""
    from .evaluation import evaluate_checkpoint
    from .training.config import recipe
    from .training.trainer import train

    runs = []
    for seed in range(seeds):
        with tempfile.TemporaryDirectory() as d:
            fit = train(recipe("fast", seed=seed), d, progress=False, log=lambda s: None)
            runs.append({"seed": seed, "train_seconds": sum(r["seconds"] for r in fit.history),
                         "test_accuracy": evaluate_checkpoint(fit.last)["accuracy"]})
    return {"runs": runs, "median_train_seconds": statistics.median(r["train_seconds"] for r in runs),
            "min_test_accuracy": min(r["test_accuracy"] for r in runs),
            "median_test_accuracy": statistics.median(r["test_accuracy"] for r in runs)}


def run_bench(quick: bool = False, log: Callable[[str], None] = print) -> dict:
    data = load_mnist()
    x, y = data.train_images[:12800].unsqueeze(1), data.train_labels[:12800].long()
    batches = 6 if quick else 30
    size, secs = (1024, 0.5) if quick else (2048, 2.0)
    result: dict = {"quick": quick, "threads": torch.get_num_threads(), "torch": torch.__version__,
                    "cpu_bf16": cpu_has_fast_bf16()}
    peak = {"fp32": matmul_gflops(torch.float32, size, secs), "bf16": matmul_gflops(torch.bfloat16, size, secs)}
    result["matmul_gflops"] = peak
    log(f"matmul: fp32 {peak['fp32']:.0f} GFLOP/s, bf16 {peak['bf16']:.0f} GFLOP/s")
    result["training"] = {}
    for preset in list_presets():
        flops = 3 * forward_flops(preset.spec)  # forward + backward ~ 3x forward
        row = {"train_gflop_per_image": flops / 1e9}
        for precision in ("fp32", "bf16"):
            speed = trainer_speed(preset.spec, precision, x, y, 256, batches)
            row[f"{precision}_images_per_s"] = speed
            row[f"{precision}_fraction_of_peak"] = speed * flops / 1e9 / peak[precision]
        ref = reference_speed(preset.spec, x, y, 256, batches)
        row["reference_images_per_s"] = ref
        row["ratio_to_reference"] = max(row["fp32_images_per_s"], row["bf16_images_per_s"]) / ref
        result["training"][preset.name] = row
        log(f"{preset.name:<18} fp32 {row['fp32_images_per_s']:7.0f}/s  bf16 {row['bf16_images_per_s']:7.0f}/s  "
            f"reference {ref:6.0f}/s  ratio {row['ratio_to_reference']:.2f}  "
            f"(bf16 at {row['bf16_fraction_of_peak']:.1%} of the bf16 matmul peak)")
    result["inference"] = {"report-cnn-final": inference(
        next(p.spec for p in list_presets() if p.name == "report-cnn-final"), data.test_images, 50 if quick else 500)}
    inf = result["inference"]["report-cnn-final"]
    log(f"report-cnn-final inference: torch p50 {inf['torch_single']['p50_ms']:.2f} ms, onnx p50 "
        f"{inf['onnx_single']['p50_ms']:.2f} ms (p99 {inf['onnx_single']['p99_ms']:.2f}), batch 256: torch "
        f"{inf['torch_batch256_images_per_s']:.0f}/s, onnx {inf['onnx_batch256_images_per_s']:.0f}/s")
    if quick:
        result["fast_recipe"] = "skipped with --quick"
    else:
        result["fast_recipe"] = time_to_accuracy()
        f = result["fast_recipe"]
        seconds = ", ".join(f"{r['train_seconds']:.1f}" for r in f["runs"])
        log(f"fast recipe: median {f['median_train_seconds']:.1f} s of training, test accuracy median "
            f"{f['median_test_accuracy']:.4f}, lowest {f['min_test_accuracy']:.4f} over {len(f['runs'])} seeds "
            f"(seconds {seconds})")
    result["peak_memory_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    log(f"peak memory {result['peak_memory_mb']:.0f} MB")
    return result
