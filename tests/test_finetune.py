"""`digitlab finetune`: a model trained on MNIST learns a "personal" handwriting from a
hundred corrected samples, without losing MNIST; the result is an ordinary checkpoint."""

import io
import json

from PIL import Image

from digitlab.cli import main
from digitlab.data.personal_style import personal_digits
from digitlab.store import Sample, open_store
from digitlab.runs.checkpoint import load_checkpoint


def _personal_store(path, n: int) -> None:
    images, labels = personal_digits(n, seed=1)
    with open_store(path) as store:
        for pixels, label in zip(images, labels):
            drawing = io.BytesIO()
            Image.fromarray(255 - pixels).save(drawing, format="PNG")
            store.add(Sample(label=int(label), drawing=drawing.getvalue(), pixels=pixels))


def test_finetune_learns_a_personal_style_and_keeps_mnist(trained, tmp_path, capsys):
    store, out = tmp_path / "samples.db", tmp_path / "finetuned"
    _personal_store(store, 100)
    base_weights = (trained.best / "weights.safetensors").read_bytes()
    assert main(["finetune", str(trained.best), "--store", str(store), "--out", str(out), "--steps", "100",
                 "--sample-batch", "16", "--lr", "5e-4", "--test-images", "2000"]) == 0
    printed = capsys.readouterr().out
    assert "held-out samples" in printed and f"fine-tuned checkpoint: {out}" in printed
    record = json.loads((out / "model.json").read_text())["metrics"]["finetune"]
    before, after = record["before"], record["after"]
    assert after["held_out"] - before["held_out"] >= 0.20, (before, after)  # the style was learnt
    assert after["mnist_test"] >= before["mnist_test"] - 0.01, (before, after)  # and MNIST was not forgotten
    assert 20 <= len(record["held_out"]) <= 30 and len(record["held_out"]) + len(record["trained_on"]) == 100
    assert not set(record["held_out"]) & set(record["trained_on"])
    assert load_checkpoint(out).meta["train_config"] == load_checkpoint(trained.best).meta["train_config"]
    assert (trained.best / "weights.safetensors").read_bytes() == base_weights  # the base is kept as it was

    assert main(["finetune", str(trained.best), "--store", str(store), "--out", str(trained.best)]) == 2
    open_store(tmp_path / "empty.db").close()
    assert main(["finetune", str(trained.best), "--store", str(tmp_path / "empty.db"), "--out",
                 str(tmp_path / "x")]) == 2
    assert "digit sample" in capsys.readouterr().err
