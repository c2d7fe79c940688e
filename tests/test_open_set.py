"""Saying "not a digit": the non-digit generator, degraded digits, training with non-digits,
the calibrated threshold and the open-set evaluation."""

import hashlib
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from conftest import run_cli
from digitlab.cli import main
from digitlab.data.degrade import DEGRADATIONS, DegradeConfig, degrade_batch, degraded_digits
from digitlab.data.negatives import (AMBIGUOUS_LETTERS, FAMILIES, HERSHEY_FONTS, HERSHEY_SYMBOL_FONTS, LETTERS,
                                     PARTS, TTF_FONTS, NegativesConfig, negative_bank, render_family)
from digitlab.data.splits import train_val_split
from digitlab.evaluation.open_set import OPEN_SET_FILES
from digitlab.models.inference import predict_logits
from digitlab.recognition.predictor import Predictor
from digitlab.recognition.rejection import CALIBRATION
from digitlab.training import recipe, train
from digitlab.runs.checkpoint import load_checkpoint, save_checkpoint
from digitlab.training.config import TrainConfig
from digitlab.runs.split import validation_images


def _hashes(images: np.ndarray) -> set[str]:
    return {hashlib.sha256(im.tobytes()).hexdigest() for im in images}


def _probabilities(model, images) -> np.ndarray:
    return torch.softmax(predict_logits(model, torch.as_tensor(images), torch.device("cpu")), 1).numpy()


def test_generator_is_seeded_and_its_parts_are_disjoint(mnist):
    digits = mnist.train_images[:500]
    for family in FAMILIES:
        a = render_family(family, 40, "train", 0, digits)
        assert a.shape == (40, 28, 28) and a.dtype == np.uint8
        assert (a.reshape(40, -1).max(1) > 0).all(), family  # every image has ink
        assert np.array_equal(a, render_family(family, 40, "train", 0, digits)), family  # seeded
        # each part and seed draws from streams of its own: drawn from the same digits, no
        # image is in two of them (streams shared or overlapping would draw the same images)
        drawn = [_hashes(render_family(family, 10, part, seed, digits)) for part in PARTS for seed in (0, 1)]
        assert len(set().union(*drawn)) == sum(map(len, drawn)) == 60, family
    # and no font, Greek symbol fonts included, draws in two parts
    fonts = {part: {*TTF_FONTS[part], *HERSHEY_FONTS[part], *HERSHEY_SYMBOL_FONTS[part]} for part in PARTS}
    for i, p in enumerate(PARTS):
        for q in PARTS[i + 1:]:
            assert not fonts[p] & fonts[q], (p, q)
    assert not set(LETTERS) & set(AMBIGUOUS_LETTERS)


def test_negative_bank_mixes_every_family(mnist):
    images, family = negative_bank(300, "train", 0, mnist.train_images[:500])
    assert images.shape == (300, 28, 28) and images.dtype == torch.uint8
    counts = torch.bincount(family, minlength=len(FAMILIES))
    assert (counts > 0).all() and counts.sum() == 300


def test_degradations_change_digits_but_keep_them_digits(mnist):
    x = mnist.test_images[:200]
    for name in DEGRADATIONS:
        d = degraded_digits(x, name)
        assert d.shape == x.shape and d.dtype == torch.uint8
        assert (d != x).any(dim=(1, 2)).float().mean() > 0.9, name
    g = torch.Generator().manual_seed(0)
    batch = x.unsqueeze(1).float()
    out = degrade_batch(batch, DegradeConfig(share=0.5), g)
    changed = (out != batch).flatten(1).any(1).float().mean()
    assert 0.3 < changed < 0.7 and out.shape == batch.shape
    again = degrade_batch(batch, DegradeConfig(share=0.5), torch.Generator().manual_seed(0))
    assert torch.equal(out, again)


def test_config_with_negatives_round_trips_and_bad_values_are_named():
    cfg = recipe("default")
    assert cfg.negatives is not None and cfg.degrade is not None
    assert TrainConfig.from_json(json.loads(json.dumps(cfg.to_json()))) == cfg
    assert TrainConfig.from_json({"model": "digitlab-cnn"}).negatives is None  # older checkpoints
    assert recipe("report-cnn-final").negatives is None
    with pytest.raises(Exception, match="negatives"):
        replace(cfg, negatives=NegativesConfig(share=0))


SMALL = dict(subset=5000, epochs=2, val_size=1000, batch_size=64)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The same model trained about 160 steps with and without non-digits."""
    base = recipe("default", **SMALL)
    with_negatives = replace(base, negatives=NegativesConfig(bank=3000), degrade=None)
    without = replace(base, negatives=None, degrade=None)
    root = tmp_path_factory.mktemp("pair")
    return {name: train(cfg, root / name, progress=False, log=lambda s: None).best
            for name, cfg in (("with", with_negatives), ("without", without))}


def test_training_with_non_digits_rejects_more_of_them(pair, mnist):
    """Both checkpoints reject at the level only 1% of their clean validation digits fall
    below; the one trained with non-digits must reject far more held-out ones."""
    test_digits = mnist.test_images[:2000]
    shares = {}
    for name, path in pair.items():
        ckpt = load_checkpoint(path)
        images, labels = validation_images(ckpt)
        dev = torch.device("cpu")
        val = torch.softmax(predict_logits(ckpt.model, images, dev), 1).max(1).values
        threshold = torch.quantile(val.double(), 0.01).item()
        accuracy = (predict_logits(ckpt.model, test_digits, dev).argmax(1) == mnist.test_labels[:2000]).float().mean()
        assert accuracy > 0.95, (name, accuracy)
        held_out = np.concatenate([render_family(f, 150, "test", 0, test_digits)
                                   for f in ("letters", "scribbles", "shapes")])
        scores = torch.softmax(predict_logits(ckpt.model, torch.from_numpy(held_out), dev), 1).max(1).values
        shares[name] = (scores < threshold).float().mean().item()
    assert shares["with"] > shares["without"] + 0.25, shares
    assert shares["with"] > 0.75, shares


def test_threshold_is_recomputed_when_the_weights_change(pair, tmp_path):
    path = tmp_path / "ckpt"
    ckpt = load_checkpoint(pair["with"])
    save_checkpoint(path, ckpt.model, ckpt.model_spec, train_config=ckpt.meta["train_config"])
    first = Predictor.load(path)
    saved = json.loads((path / CALIBRATION).read_text())
    assert saved["weights_sha256"] == first.checkpoint.meta["weights_sha256"]
    assert set(saved["rejected"]) == {"clean", *DEGRADATIONS}  # trained with non-digits: degraded digits too
    assert saved["threshold"] == pytest.approx(first.threshold)
    with torch.no_grad():
        for p in ckpt.model.parameters():
            p.mul_(1.5)
    save_checkpoint(path, ckpt.model, ckpt.model_spec, train_config=ckpt.meta["train_config"])
    second = Predictor.load(path)
    resaved = json.loads((path / CALIBRATION).read_text())
    assert resaved["weights_sha256"] == second.checkpoint.meta["weights_sha256"] != saved["weights_sha256"]
    assert second.threshold != first.threshold


def test_a_checkpoint_without_non_digits_keeps_the_old_rule(pair, mnist):
    predictor = Predictor.load(pair["without"])
    saved = json.loads((pair["without"] / CALIBRATION).read_text())
    assert list(saved["rejected"]) == ["clean"]
    assert predictor.threshold == saved["threshold"]
    # the share it rejects and the threshold, from the scores of its own validation digits
    _, val = train_val_split(mnist.train_labels, SMALL["val_size"], 0)
    scores = _probabilities(predictor.checkpoint.model, mnist.train_images[val]).max(1).astype(np.float64)
    rejected = (scores < predictor.threshold).mean()
    assert rejected == pytest.approx(0.01, abs=0.002) and saved["rejected"]["clean"] == pytest.approx(rejected)
    assert predictor.threshold == pytest.approx(np.quantile(scores, 0.01))


def test_open_set_cli_writes_every_file_it_promises(pair, mnist, tmp_path, capsys):
    out = tmp_path / "open-set"
    proc = run_cli("evaluate", pair["with"], "--open-set", "--per-family", 60, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "AUROC" in proc.stdout and "letters-ambiguous" in proc.stdout, proc.stdout
    assert "through the whole reading path" in proc.stdout, proc.stdout
    assert {p.name for p in out.iterdir()} == {*OPEN_SET_FILES, "reading_path.json"}
    for name in OPEN_SET_FILES[1:]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    result = json.loads((out / "open_set.json").read_text())
    path = json.loads((out / "reading_path.json").read_text())
    # the product's figures: drawings read through the whole path
    assert set(path) == {"digits", "wide: stretched", "wide: crossed 7", "wide: flagged 1", *FAMILIES,
                         "letters-ambiguous", "strings"} - {"pairs"}
    assert all(row["n"] == 60 for row in path.values())
    assert path["digits"]["right"] >= 0.8 and path["digits"]["rejected"] <= 0.15, path["digits"]  # a small model
    assert path["letters"]["rejected"] >= path["digits"]["rejected"] + 0.15, path
    assert set(result["non_digits"]) == {*FAMILIES, "letters-ambiguous"}
    assert set(result["digits"]) == {"mnist", *DEGRADATIONS}
    # the figures are those of the scores computed here for the same test digits and non-digits
    model, threshold = load_checkpoint(pair["with"]).model, result["threshold"]
    probs = _probabilities(model, mnist.test_images)
    clean, right = probs.max(1), probs.argmax(1) == mnist.test_labels.numpy()
    assert result["digits"]["mnist"] == pytest.approx({"n": 10000, "rejected": (clean < threshold).mean(),
                                                       "accuracy": right.mean()}, abs=1e-5)
    assert result["digits"]["mnist"]["accuracy"] > 0.95
    level = np.quantile(clean.astype(np.float64), 0.05)  # 95% of clean digits score at least this
    for family, row in result["non_digits"].items():
        s = _probabilities(model, render_family(family, 60, "test", 0, mnist.test_images)).max(1)
        auroc = roc_auc_score(np.r_[np.ones(len(clean)), np.zeros(len(s))], np.r_[clean, s])
        assert row == pytest.approx({"n": 60, "auroc": auroc, "fpr_at_95_tpr": (s >= level).mean(),
                                     "rejected": (s < threshold).mean()}, abs=1e-5), family
        assert row["auroc"] > 0.5, family
    assert main(["evaluate", str(pair["with"]), "--open-set", "--out", str(out / "open_set.json")]) == 2
    assert "is a file" in capsys.readouterr().err
