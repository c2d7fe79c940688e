"""Controls for what the docs claim: each feature against the same setup without it."""

from dataclasses import replace

import pytest
import torch

import digitlab.training.trainer as trainer_module
from digitlab.data.degrade import degraded_digits
from digitlab.data.negatives import NegativesConfig
from digitlab.evaluation import evaluate_checkpoint
from digitlab.models.inference import predict_logits
from digitlab.runs.checkpoint import load_checkpoint, read_meta
from digitlab.runs.ensemble import load_reader
from digitlab.runs.split import make_split
from digitlab.training import RECIPES, TrainConfig, Trainer, recipe, train
from digitlab.training.ensemble import plan_ensemble, train_ensemble
from digitlab.training.trainer import recalibrate_batch_norm

CPU = torch.device("cpu")


def quiet(_line):
    pass


def accuracy(model, images, labels) -> float:
    return (predict_logits(model, images, CPU).argmax(1) == labels.long()).float().mean().item()


def test_training_on_degraded_digits_reads_thick_and_slanted_ones_better(trained, mnist, tmp_path):
    """`trained` is the default recipe with degradation off; its twin differs only in `degrade`,
    set as the recipe sets it (docs/open-set.md: thick and slanted digits)."""
    plain_cfg = TrainConfig.from_json(read_meta(trained.best)["train_config"])
    assert plain_cfg.degrade is None and RECIPES["default"].degrade is not None
    twin = train(replace(plain_cfg, degrade=RECIPES["default"].degrade), tmp_path / "degraded", progress=False,
                 log=quiet)
    plain, degraded = load_checkpoint(trained.best).model, load_checkpoint(twin.best).model
    images, labels = mnist.test_images[:2000], mnist.test_labels[:2000]
    clean = {name: accuracy(m, images, labels) for name, m in (("plain", plain), ("degraded", degraded))}
    assert clean["degraded"] >= clean["plain"] - 0.015, clean  # robustness costs little clean accuracy
    for kind in ("thick", "slant"):
        x = degraded_digits(images, kind)
        got = {name: accuracy(m, x, labels) for name, m in (("plain", plain), ("degraded", degraded))}
        assert got["degraded"] >= got["plain"] + 0.01, (kind, got)


def test_re_estimating_batch_norm_on_digits_reads_digits_better(monkeypatch):
    """A run with non-digits re-estimates its batch norm statistics on clean training digits
    (docs/open-set.md); the control is the same run with the re-estimation switched off. In a
    one-epoch run the statistics training leaves behind lag the weights; that, more than the
    non-digits mixed into them, is what re-estimating mends here."""
    cfg = recipe("default", subset=4000, epochs=1, val_size=2000, negatives=NegativesConfig(bank=1000))
    trainer = Trainer(cfg, None, device="cpu", progress=False, log=quiet)
    with monkeypatch.context() as m:
        m.setattr(trainer_module, "recalibrate_batch_norm", lambda *args, **kwargs: None)
        trainer.fit()
    split = make_split(cfg)
    images, labels = split.x_val.squeeze(1), split.y_val
    model = trainer.model
    before = accuracy(model, images, labels)
    recalibrate_batch_norm(model, split.x_train[:trainer_module.BN_RECALIBRATION_IMAGES], CPU)
    after = accuracy(model, images, labels)
    assert after >= before + 0.002, (before, after)


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    """An ensemble of three small networks quickly trained (seeds 0-2), without test-time shifts."""
    out = tmp_path_factory.mktemp("three")
    base = TrainConfig(model="F-100-R-10", batch_size=100, lr=5e-3, epochs=2, subset=3000)
    plan_ensemble(out, "three", base, 3, tta=False)
    return train_ensemble(out, lambda cfg, run, resume: train(cfg, run, resume=resume, progress=False, log=quiet),
                          log=quiet)


def test_an_ensemble_reads_better_than_each_of_its_members(three, mnist):
    """Averaging three members must beat the best of them: an ensemble that read with one
    member alone would at most tie it."""
    result = evaluate_checkpoint(three)
    members = [m["accuracy"] for m in result["members"]]
    assert len(members) == 3 and len(set(members)) > 1, members  # different seeds, different readings
    assert result["accuracy"] > max(members), (result["accuracy"], members)
    # the averaged model predict and serve read gives the same figure
    averaged = accuracy(load_reader(three).model, mnist.test_images, mnist.test_labels)
    assert averaged == pytest.approx(result["accuracy"], abs=2e-4), (averaged, result["accuracy"])
