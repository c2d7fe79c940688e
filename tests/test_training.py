import copy
import json
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from conftest import assert_clean_error, run_cli
from digitlab.data import AugmentConfig
from digitlab.errors import DigitlabError
from digitlab.evaluation import evaluate_checkpoint
from digitlab.models.inference import predict_logits
from digitlab.models import resolve_model
from digitlab.models.layers import Flatten
from digitlab.runs import checkpoint as checkpoint_module
from digitlab.runs.checkpoint import load_checkpoint, save_checkpoint
from digitlab.training import TrainConfig, Trainer, recipe, train
from digitlab.training.registry import loss_fn, lr_at
from digitlab.training.trainer import recalibrate_batch_norm

QUIET = dict(progress=False, log=lambda s: None)
CPU = torch.device("cpu")


def test_two_epochs_on_5k_images_reach_real_accuracy(trained):
    assert [r["epoch"] for r in trained.history] == [1, 2]
    assert trained.history[1]["loss"] < trained.history[0]["loss"]
    assert trained.best_val_accuracy >= 0.94
    metrics = evaluate_checkpoint(trained.best)
    assert metrics["n"] == 10000
    assert metrics["accuracy"] >= 0.95, metrics  # chance is 0.10; a broken pipeline stays far below
    history = json.loads((trained.out / "history.json").read_text())
    assert set(history[0]) >= {"loss", "accuracy", "val_loss", "val_accuracy", "seconds", "lr"}


def test_checkpoint_round_trip_gives_identical_predictions(trained, mnist, tmp_path):
    ckpt = load_checkpoint(trained.best)
    assert ckpt.meta["train_config"]["subset"] == 5000
    assert ckpt.meta["dataset_sha256"] and ckpt.meta["versions"]["torch"] == torch.__version__
    images = mnist.test_images[:500]
    before = predict_logits(ckpt.model, images, CPU)
    save_checkpoint(tmp_path / "copy", ckpt.model, ckpt.model_spec, train_config=ckpt.meta["train_config"])
    after = predict_logits(load_checkpoint(tmp_path / "copy").model, images, CPU)
    assert torch.equal(before, after)


def _tiny(**kw):
    base = TrainConfig(model="report-cnn-final", optimizer="adam", lr=0.01, batch_size=64, epochs=3,
                       subset=640, val_size=256, augment=AugmentConfig(), schedule="onecycle", seed=3)
    return replace(base, **kw)


def test_resume_refuses_a_different_config(tmp_path):
    train(_tiny(epochs=1), tmp_path / "run", **QUIET)
    with pytest.raises(DigitlabError, match="config differs"):
        train(_tiny(epochs=1, lr=0.02), tmp_path / "run", resume=True, **QUIET)


def test_corrupt_and_mismatched_checkpoints_are_refused(trained, tmp_path):
    import shutil

    def copy(name):
        shutil.copytree(trained.best, tmp_path / name)
        return tmp_path / name

    truncated = copy("truncated")
    weights = truncated / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(DigitlabError, match="corrupt"):
        load_checkpoint(truncated)

    garbage = copy("garbage")
    (garbage / "model.json").write_text("{not json")
    with pytest.raises(DigitlabError, match="not valid JSON"):
        load_checkpoint(garbage)

    mismatched = copy("mismatched")
    meta = json.loads((mismatched / "model.json").read_text())
    meta["model"]["spec"] = "32C5-R-AP2-F-20-R-10-SM"
    (mismatched / "model.json").write_text(json.dumps(meta))
    with pytest.raises(DigitlabError, match="do not match the model spec"):
        load_checkpoint(mismatched)

    with pytest.raises(DigitlabError, match="not found"):
        load_checkpoint(tmp_path / "nowhere")
    assert_clean_error(run_cli("evaluate", truncated), "corrupt")
    assert_clean_error(run_cli("evaluate", tmp_path / "nowhere"), "not found")


def test_a_failed_save_keeps_the_previous_checkpoint(trained, tmp_path, monkeypatch):
    ckpt = load_checkpoint(trained.best)
    target = save_checkpoint(tmp_path / "ckpt", ckpt.model, ckpt.model_spec, metrics={"v": 1})

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(checkpoint_module, "save_file", disk_full)
    with pytest.raises(OSError):
        save_checkpoint(target, ckpt.model, ckpt.model_spec, metrics={"v": 2})
    assert load_checkpoint(target).meta["metrics"] == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]  # no half-written leftovers


def test_bad_settings_are_refused_with_the_allowed_values():
    with pytest.raises(DigitlabError, match="optimizer 'adamw'.*adam, rmsprop"):
        TrainConfig(optimizer="adamw")
    with pytest.raises(DigitlabError, match="batch size"):
        TrainConfig(batch_size=1)
    with pytest.raises(DigitlabError, match="unknown recipe"):
        recipe("quick")
    proc = run_cli("train", "--optimizer", "adamw")
    assert proc.returncode == 2 and "invalid choice: 'adamw'" in proc.stderr and "Traceback" not in proc.stderr
    assert_clean_error(run_cli("train", "--model", "32C3-ZZ-F-10"), "'ZZ'")


def test_the_three_losses_agree_on_one_hot_targets():
    torch.manual_seed(0)
    logits, y = torch.randn(64, 10), torch.randint(0, 10, (64,))
    sparse = loss_fn("sparse_categorical_crossentropy")(logits, y)
    categorical = loss_fn("categorical_crossentropy")(logits, y)
    kl = loss_fn("kl_divergence")(logits, y)
    assert torch.allclose(sparse, categorical)
    assert abs(kl.item() - sparse.item()) < 1e-3  # equal but for Keras' 1e-7 clipping
    assert sparse.item() > 1  # random logits: a real loss, not zero


def plain_copy(model: torch.nn.Module) -> torch.nn.Module:
    """The same weights with stock layers: nn.Flatten in place of digitlab's Flatten."""
    plain = copy.deepcopy(model)
    for i, layer in enumerate(plain.layers):
        if isinstance(layer, Flatten):
            plain.layers[i] = torch.nn.Flatten()
    return plain


@pytest.mark.parametrize("name", ["report-cnn-first", "report-ann"])
def test_the_training_step_follows_a_plain_pytorch_loop(name, mnist):
    """Trainer.step (fused Adam, layout-keeping flatten, channels_last) against the textbook loop
    (per-tensor Adam, stock layers) from the same weights on the same 20 batches, in fp32."""
    trainer = Trainer(replace(recipe(name), precision="fp32"), None, **QUIET)
    plain = plain_copy(trainer.model)
    opt = torch.optim.Adam(plain.parameters(), lr=1e-3, eps=1e-7, foreach=False)
    g = torch.Generator().manual_seed(0)
    ours, theirs = [], []
    for _ in range(20):
        idx = torch.randint(0, 60000, (32,), generator=g)
        x, y = mnist.train_images[idx].unsqueeze(1), mnist.train_labels[idx].long()
        ours.append(trainer.step(x, y, 1e-3)[0].item())
        loss = torch.nn.functional.cross_entropy(plain(x.float()), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        theirs.append(loss.item())
    assert ours == pytest.approx(theirs, rel=1e-4, abs=1e-5)
    assert ours[-1] < 0.8 * ours[0]  # it learned: the trajectories compared are real ones


HEAP_AFTER_FREEING_16_MIB = """
import ctypes, sys
from digitlab.allocator import keep_freed_memory
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype, libc.malloc.restype = MallInfo2, ctypes.c_void_p
libc.malloc.argtypes, libc.free.argtypes = [ctypes.c_size_t], [ctypes.c_void_p]
if sys.argv[1] == "keep":
    assert keep_freed_memory()
block = libc.malloc(16 << 20)
ctypes.memset(block, 1, 16 << 20)
libc.free(block)
print(libc.mallinfo2().fordblks >> 20)  # MiB free inside the process
"""


def test_keep_memory_keeps_a_freed_block_in_the_process():
    """glibc (Linux) only: a freed 16 MiB block goes back to the kernel by default, and stays
    in the process's heap with the opt-in setting."""
    held = {}
    for mode in ("keep", "default"):
        proc = subprocess.run([sys.executable, "-c", HEAP_AFTER_FREEING_16_MIB, mode], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr
        held[mode] = int(proc.stdout)
    assert held["keep"] >= 16 and held["default"] < 16


def test_label_smoothing_is_keras_formula_and_refused_where_keras_has_none():
    torch.manual_seed(0)
    logits, y = torch.randn(64, 10), torch.randint(0, 10, (64,))
    targets = torch.nn.functional.one_hot(y, 10).float() * 0.95 + 0.05 / 10  # Keras: y * (1 - s) + s / classes
    keras = -(targets * torch.log_softmax(logits, 1)).sum(1).mean()
    for name in ("sparse_categorical_crossentropy", "categorical_crossentropy"):
        assert torch.allclose(loss_fn(name, 0.05)(logits, y), keras)
    assert not torch.allclose(loss_fn("sparse_categorical_crossentropy")(logits, y), keras)
    with pytest.raises(DigitlabError, match="label smoothing"):
        TrainConfig(loss="kl_divergence", label_smoothing=0.1)
    with pytest.raises(DigitlabError, match="label smoothing"):
        TrainConfig(label_smoothing=1.0)


def test_onecycle_warms_up_then_anneals():
    lrs = [lr_at("onecycle", 1.0, s, 100) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and max(lrs) == pytest.approx(1.0, abs=0.04)
    assert lrs.index(max(lrs)) == 25 and lrs[-1] < 0.02
    assert all(lr_at("constant", 0.5, s, 100) == 0.5 for s in (0, 50, 99))


def test_train_and_evaluate_through_the_cli(tmp_path):
    out = tmp_path / "cli-run"
    proc = run_cli("train", "--recipe", "report-cnn-first", "--subset", "2000", "--epochs", "2", "--val-size",
                   "1000", "--lr", "0.002", "--out", out, "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert f"best checkpoint: {out / 'best'}" in proc.stdout
    proc = run_cli("evaluate", out / "best", "--json")
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(proc.stdout)
    assert set(metrics) == {"accuracy", "loss", "n", "split", "tta"} and metrics["n"] == 10000
    assert metrics["split"] == "test" and metrics["tta"] is False
    assert metrics["accuracy"] > 0.85
    again = run_cli("train", "--out", out, "--epochs", "1")
    assert_clean_error(again, "already holds a run")


def test_training_on_the_cpu_keeps_freed_memory_in_its_process(monkeypatch):
    """train() on the CPU turns on allocator.keep_freed_memory, whatever the recipe (about 20%
    faster steps for the CNN recipes, docs/performance.md); a Trainer built alone does not
    (bench times rows with and without it)."""
    import digitlab.training.trainer as trainer_module

    calls = []
    monkeypatch.setattr(trainer_module, "keep_freed_memory", lambda: calls.append(1) or True)
    for name in ("report-ann", "fast"):
        calls.clear()
        train(recipe(name, subset=500, epochs=1, val_size=500), None, device="cpu", progress=False,
              log=lambda s: None)
        assert calls == [1], name
    calls.clear()
    Trainer(recipe("fast", subset=500, epochs=1, val_size=500), None, progress=False, log=lambda s: None)
    assert calls == []


def test_batch_norm_recalibration_runs_with_dropout_off():
    """The re-estimated statistics of a batch norm behind a dropout are those of its input
    as inference sees it: dropout off. (Ours is not a torch.nn.Dropout, and was left on.)"""
    torch.manual_seed(0)
    model = resolve_model("F-64-R-D0.5-BN-10").build()
    images = torch.randint(0, 256, (300, 28, 28), dtype=torch.uint8)
    norm = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d))
    seen = []
    hook = norm.register_forward_hook(lambda m, inp, out: seen.append(inp[0].detach()))
    model.eval()
    with torch.no_grad():
        model(images.unsqueeze(1).float())
    hook.remove()
    recalibrate_batch_norm(model, images, torch.device("cpu"), batch_size=500)  # one batch: its own statistics
    assert torch.allclose(norm.running_mean, seen[0].mean(0), atol=1e-4)
    assert torch.allclose(norm.running_var, seen[0].var(0), rtol=1e-3, atol=1e-4)
    assert not model.training
