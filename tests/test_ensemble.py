import json

import pytest
import torch

from conftest import assert_clean_error, run_cli
from digitlab.device import resolve_precision
from digitlab.evaluation import evaluate_checkpoint
from digitlab.models.inference import TTA_SHIFTS, predict_logits, predict_probs, shift_images
from digitlab.runs.checkpoint import load_checkpoint

CPU = torch.device("cpu")


def test_shift_images_moves_whole_pixels_and_fills_with_zero():
    x = torch.arange(1, 17, dtype=torch.float32).reshape(1, 1, 4, 4)
    right = shift_images(x, 1, 0)
    assert torch.equal(right[..., :, 1:], x[..., :, :-1]) and not right[..., :, 0].any()
    up = shift_images(x, 0, -1)
    assert torch.equal(up[..., :-1, :], x[..., 1:, :]) and not up[..., -1, :].any()
    assert torch.equal(shift_images(shift_images(x, 1, 1), -1, -1)[..., :3, :3], x[..., :3, :3])
    assert len(set(TTA_SHIFTS)) == len(TTA_SHIFTS) and TTA_SHIFTS[0] == (0, 0)


def test_one_model_without_tta_is_its_softmax_and_tta_stays_accurate(trained, mnist):
    model = load_checkpoint(trained.best).model
    images, labels = mnist.test_images[:1000], mnist.test_labels[:1000].long()
    plain = predict_probs([model], images, CPU)
    assert torch.allclose(plain, torch.softmax(predict_logits(model, images, CPU), 1), atol=1e-6)
    shifted = predict_probs([model], images, CPU, tta=True)
    assert torch.allclose(shifted.sum(1), torch.ones(1000), atol=1e-5)
    assert not torch.allclose(shifted, plain, atol=1e-3)  # the views really differ
    assert (shifted.argmax(1) == labels).float().mean() >= 0.95  # one-pixel shifts keep the digits readable


def test_validation_split_scores_the_images_the_run_held_out(trained):
    """`--split val` re-creates the run's own held-out images: it must agree with the
    validation accuracy the trainer logged for the best epoch."""
    got = evaluate_checkpoint(trained.best, split="val", precision=resolve_precision("auto", CPU))
    assert got["n"] == 5000
    assert got["accuracy"] == pytest.approx(trained.best_val_accuracy, abs=1e-6)


def test_ensemble_trains_members_resumes_and_evaluates(tmp_path):
    out = tmp_path / "ens"
    args = ["train", "--recipe", "best-ensemble", "--members", "2", "--model", "16C5-MP2-BN0.9-R-F-10",
            "--subset", "3000", "--epochs", "2", "--no-augment", "--batch-size", "100", "--lr", "5e-3", "--quiet",
            "--out", out]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "ensemble.json").read_text())
    assert [m["run"] for m in manifest["members"]] == ["seed-0", "seed-1"]
    assert [m["train_config"]["seed"] for m in manifest["members"]] == [0, 1]
    assert (out / "seed-0" / "best").is_dir() and (out / "seed-1" / "best").is_dir()

    again = run_cli("train", "--resume", out, "--quiet")  # nothing left to do: both members are kept
    assert again.returncode == 0 and again.stdout.count("already trained") == 2, again.stdout
    assert_clean_error(run_cli(*args), "already holds a run")

    result = evaluate_checkpoint(out)
    assert result["tta"] is True and len(result["members"]) == 2
    members = [m["accuracy"] for m in result["members"]]
    assert min(members) >= 0.90, members  # 3k images, two epochs: a broken member stays far below
    assert result["accuracy"] >= min(members) - 0.002  # averaging does not wreck the members' reading
    proc = run_cli("evaluate", out, "--no-tta", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["tta"] is False, proc.stderr
    assert_clean_error(run_cli("evaluate", out, "--report", tmp_path / "r"), "--report covers one checkpoint")


def test_an_unfinished_ensemble_says_how_to_continue(tmp_path):
    out = tmp_path / "ens"
    out.mkdir()
    (out / "ensemble.json").write_text(json.dumps({
        "format": "digitlab.ensemble", "name": "best-ensemble", "tta": False,
        "members": [{"run": "seed-0", "checkpoint": "seed-0/best", "train_config": {}}]}))
    assert_clean_error(run_cli("evaluate", out), "not fully trained", f"digitlab train --resume {out}")
    (out / "ensemble.json").write_text(json.dumps({
        "format": "digitlab.ensemble", "members": [{"run": "../x", "checkpoint": "../x/best"}]}))
    assert_clean_error(run_cli("evaluate", out), "must be a path inside it")
