"""`digitlab finetune`: a model trained on MNIST learns a "personal" handwriting from a
hundred corrected samples, without losing MNIST; the result is an ordinary checkpoint.
MNIST is measured on the checkpoint's own validation images, never on the test set."""

import dataclasses
import io
import json

import pytest
import torch
from PIL import Image

from digitlab.cli import main
from digitlab.data import mnist as mnist_module
from digitlab.data.personal_style import personal_digits
from digitlab.data.splits import stratified_take
from digitlab.models.inference import predict_logits
from digitlab.runs.checkpoint import load_checkpoint
from digitlab.runs.split import validation_images
from digitlab.store import Sample, open_store


def _personal_store(path, n: int) -> None:
    images, labels = personal_digits(n, seed=1)
    with open_store(path) as store:
        for pixels, label in zip(images, labels):
            drawing = io.BytesIO()
            Image.fromarray(255 - pixels).save(drawing, format="PNG")
            store.add(Sample(label=int(label), drawing=drawing.getvalue(), pixels=pixels))


def _accuracy(checkpoint, images, labels) -> float:
    logits = predict_logits(load_checkpoint(checkpoint).model, images, torch.device("cpu"))
    return (logits.argmax(1) == labels.long()).float().mean().item()


def test_finetune_learns_a_personal_style_and_keeps_mnist(trained, tmp_path, capsys, monkeypatch):
    store, out = tmp_path / "samples.db", tmp_path / "finetuned"
    _personal_store(store, 100)
    base_weights = (trained.best / "weights.safetensors").read_bytes()
    # the test set is `digitlab evaluate`'s alone: blanked for this test, fine-tuning must not notice
    data = mnist_module.load_mnist()
    monkeypatch.setitem(mnist_module._loaded, data.location,
                        dataclasses.replace(data, test_images=torch.zeros_like(data.test_images)))
    assert main(["finetune", str(trained.best), "--store", str(store), "--out", str(out), "--steps", "100",
                 "--sample-batch", "16", "--lr", "5e-4", "--val-images", "2000"]) == 0
    printed = capsys.readouterr().out
    assert "held-out samples" in printed and f"fine-tuned checkpoint: {out}" in printed
    assert "MNIST validation accuracy" in printed and "(2000 of the checkpoint's validation images)" in printed
    record = json.loads((out / "model.json").read_text())["metrics"]["finetune"]
    before, after = record["before"], record["after"]
    assert record["config"]["val_images"] == 2000 and "mnist_test" not in before | after
    # the MNIST figures are the base's and the result's accuracy on a stratified 2,000 of the
    # base checkpoint's own validation images, computed here on their own (within two images)
    val_x, val_y = validation_images(load_checkpoint(trained.best))
    picked, _ = stratified_take(val_y, 2000, seed=0)
    assert before["mnist_val"] == pytest.approx(_accuracy(trained.best, val_x[picked], val_y[picked]), abs=1e-3)
    assert after["mnist_val"] == pytest.approx(_accuracy(out, val_x[picked], val_y[picked]), abs=1e-3)
    assert after["held_out"] - before["held_out"] >= 0.20, (before, after)  # the style was learnt
    assert after["mnist_val"] >= before["mnist_val"] - 0.01, (before, after)  # and MNIST was not forgotten
    assert 20 <= len(record["held_out"]) <= 30 and len(record["held_out"]) + len(record["trained_on"]) == 100
    assert not set(record["held_out"]) & set(record["trained_on"])
    assert load_checkpoint(out).meta["train_config"] == load_checkpoint(trained.best).meta["train_config"]
    assert (trained.best / "weights.safetensors").read_bytes() == base_weights  # the base is kept as it was

    assert main(["finetune", str(trained.best), "--store", str(store), "--out", str(trained.best)]) == 2
    assert main(["finetune", str(trained.best), "--store", str(store), "--out", str(tmp_path / "y"),
                 "--val-images", "5001"]) == 2
    assert "held out 5000 validation images" in capsys.readouterr().err
    open_store(tmp_path / "empty.db").close()
    assert main(["finetune", str(trained.best), "--store", str(tmp_path / "empty.db"), "--out",
                 str(tmp_path / "x")]) == 2
    assert "digit sample" in capsys.readouterr().err
