import json
import math
import shutil

import numpy as np
import pytest
import torch

from conftest import CHROMIUM_ARGS, assert_clean_error, run_cli
from digitlab.cli import main
from digitlab.errors import DigitlabError
from digitlab.evaluation import report as report_module
from digitlab.evaluation.metrics import classification_metrics, expected_calibration_error
from digitlab.evaluation.report import evaluate, write_report
from digitlab.evaluation.robustness import (add_noise, dilate, erode, family_means, invert, robustness_table,
                                            rotate, scale, shift)

REPORT_FILES = {
    "metrics.json", "report.html", "confusion_matrix.png", "roc.png", "roc_zoom.png", "precision_recall.png",
    "open_set_scores.png", "open_set_accepted.png",
    "precision_recall_zoom.png", "training_curves.png", "confident_mistakes.png", "reliability.png",
    "robustness.png",
}


def _probs(rows):
    p = np.zeros((len(rows), 10))
    p[:, : len(rows[0])] = rows
    return p


# Four predictions worked out by hand (classes 3-9 absent):
#   sample  label  p(0)  p(1)  p(2)   predicted  confidence
#   s0      0      0.70  0.20  0.10   0 (right)  0.70
#   s1      0      0.40  0.60  0.00   1 (wrong)  0.60
#   s2      1      0.10  0.90  0.00   1 (right)  0.90
#   s3      2      0.45  0.00  0.55   2 (right)  0.55
PROBS = _probs([[0.70, 0.20, 0.10], [0.40, 0.60, 0.00], [0.10, 0.90, 0.00], [0.45, 0.00, 0.55]])
LABELS = np.array([0, 0, 1, 2])


def test_metrics_match_hand_computed_values():
    m = classification_metrics(PROBS, LABELS)
    assert m["accuracy"] == 0.75
    assert m["loss"] == pytest.approx(-(math.log(0.7) + math.log(0.4) + math.log(0.9) + math.log(0.55)) / 4)
    cm = np.array(m["confusion_matrix"])
    assert cm[0, 0] == 1 and cm[0, 1] == 1 and cm[1, 1] == 1 and cm[2, 2] == 1 and cm.sum() == 4
    assert m["per_class"]["0"]["recall"] == 0.5 and m["per_class"]["0"]["precision"] == 1.0
    assert m["per_class"]["1"]["precision"] == 0.5 and m["per_class"]["1"]["recall"] == 1.0
    assert m["per_class"]["2"]["support"] == 1
    # class 0 scores: positives 0.70, 0.40; negatives 0.10, 0.45 -> 3 of 4 pairs ordered right
    assert m["roc_auc"]["0"] == pytest.approx(0.75)
    # ranked 0.70 (+), 0.45 (-), 0.40 (+): precision 1 at recall 1/2, 2/3 at recall 1
    assert m["average_precision"]["0"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert m["roc_auc"]["5"] is None and m["average_precision"]["5"] is None


def test_expected_calibration_error_by_hand():
    # 15 bins of width 1/15: s1 (0.60, wrong) and s3 (0.55, right) share (8/15, 9/15];
    # s0 (0.70, right) is alone in (10/15, 11/15]; s2 (0.90, right) in (13/15, 14/15].
    expected = 2 / 4 * abs(0.5 - 0.575) + 1 / 4 * abs(1 - 0.7) + 1 / 4 * abs(1 - 0.9)
    assert expected_calibration_error(PROBS, LABELS) == pytest.approx(expected)
    bins = classification_metrics(PROBS, LABELS)["reliability"]
    assert [b["count"] for b in bins if b["count"]] == [2, 1, 1]
    perfect = _probs([[1.0, 0.0]] * 5)
    assert expected_calibration_error(perfect, np.zeros(5, int)) == 0.0


def _asymmetric():
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 4, 6:20] = 255  # a bar along the top
    x[0, 0, 4:12, 6] = 255  # and a tick down its left end
    x[0, 0, 20, 15] = 128
    return x


def test_rotation_by_90_degrees_is_rot90():
    x = _asymmetric()
    assert torch.equal(rotate(x, 90).round(), torch.rot90(x, 1, dims=(-2, -1)))
    assert torch.equal(rotate(x, -90).round(), torch.rot90(x, -1, dims=(-2, -1)))
    assert not torch.equal(rotate(x, 90).round(), rotate(x, -90).round())
    assert torch.allclose(rotate(x, 0), x)


def test_shift_moves_content_by_whole_pixels():
    x = _asymmetric()
    moved = shift(x, 3, -2).round()
    expected = torch.zeros_like(x)
    expected[..., :-2, 3:] = x[..., 2:, :-3]  # 3 right, 2 up
    assert torch.equal(moved, expected)
    assert shift(x, 28, 0).abs().max() == 0  # moved out of the frame entirely


def test_scale_about_the_centre():
    x = torch.zeros(1, 1, 28, 28)
    x[..., 12:16, 12:16] = 255  # a 4x4 square in the middle
    big = scale(x, 2.0)
    assert (big > 127).sum() == 64  # 8x8
    rows = torch.nonzero(big[0, 0] > 127)[:, 0]
    assert rows.min() == 10 and rows.max() == 17
    assert (scale(x, 0.5) > 127).sum() == 4


def test_thickness_and_noise_and_inversion():
    x = torch.zeros(1, 1, 28, 28)
    x[..., 5:23, 12:15] = 255  # a vertical stroke 3 pixels wide
    width = lambda im: int((im[0, 0, 14] > 0).sum())  # noqa: E731
    assert (width(erode(x)), width(x), width(dilate(x)), width(dilate(x, 2))) == (1, 3, 5, 7)
    noisy = add_noise(x, 50, seed=1)
    assert noisy.min() >= 0 and noisy.max() <= 255 and torch.equal(noisy, add_noise(x, 50, seed=1))
    background = noisy[x == 0]  # N(0, 50) clipped at 0: half stays 0, std 50 * sqrt(1/2 - 1/(2 pi)) = 29.2
    assert 0.4 < (background > 0).float().mean() < 0.6 and 25 < background.std() < 34
    assert torch.equal(invert(invert(x)), x) and invert(x)[0, 0, 0, 0] == 255


def test_a_trained_model_loses_accuracy_when_digits_are_rotated(trained, mnist):
    from digitlab.models.inference import predict_logits
    from digitlab.runs.checkpoint import load_checkpoint

    model = load_checkpoint(trained.best).model
    rows = robustness_table(lambda x: predict_logits(model, x, torch.device("cpu")).argmax(1),
                            mnist.test_images[:1000], mnist.test_labels[:1000])
    acc = {(r["family"], r["level"]): r["accuracy"] for r in rows}
    assert acc[("rotation", 0)] > 0.95
    assert acc[("rotation", 45)] < acc[("rotation", 0)] - 0.05
    assert acc[("noise", 100)] < acc[("noise", 0)]
    assert set(family_means(rows)) == {"rotation", "shift", "scale", "thickness", "noise", "inverted"}


@pytest.fixture(scope="module")
def report_dir(trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "report"
    proc = run_cli("evaluate", trained.best, "--report", out, "--per-family", 100)
    assert proc.returncode == 0, proc.stderr
    assert "precision    recall  f1-score   support" in proc.stdout  # the classification report
    assert f"report: {out / 'report.html'}" in proc.stdout
    return out


def test_report_writes_every_file(report_dir, trained):
    assert {p.name for p in report_dir.iterdir()} == REPORT_FILES
    m = json.loads((report_dir / "metrics.json").read_text())
    assert m["n"] == 10000 and m["accuracy"] > 0.95
    assert np.array(m["confusion_matrix"]).sum() == 10000
    assert np.trace(np.array(m["confusion_matrix"])) == round(m["accuracy"] * 10000)
    assert all(0.99 < m["roc_auc"][str(c)] <= 1 for c in range(10))
    assert 0 <= m["ece"] < 0.1 and len(m["reliability"]) == 15
    assert {r["family"] for r in m["robustness"]} == {"rotation", "shift", "scale", "thickness", "noise",
                                                      "inverted"}
    assert m["train_config"]["subset"] == 5000
    for name in REPORT_FILES - {"metrics.json", "report.html"}:
        assert (report_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_report_html_shows_every_image_in_chromium(report_dir):
    from playwright.sync_api import sync_playwright

    html = (report_dir / "report.html").read_text()
    assert 'src="data:image/png;base64,' in html
    assert "http://" not in html and "https://" not in html  # nothing to fetch: self-contained
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto((report_dir / "report.html").as_uri())
            page.wait_for_load_state("load")
            widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
            title = page.title()
        finally:
            browser.close()
    assert len(widths) == len(REPORT_FILES) - 2
    assert all(w > 0 for w in widths), widths
    assert title.startswith("digitlab evaluation")


def test_bad_report_targets_are_refused_before_any_work(trained, tmp_path, capsys):
    def refused(target, fragment, checkpoint=trained.best):
        assert main(["evaluate", str(checkpoint), "--report", str(target)]) == 2
        err = capsys.readouterr().err
        assert fragment in err and "Traceback" not in err, err

    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    refused(a_file, "is a file")
    refused(a_file / "report", "is a file")
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "keep.txt").write_text("precious")
    refused(theirs, "holds other files")
    assert (theirs / "keep.txt").read_text() == "precious" and a_file.read_text() == "mine"
    refused("/proc/digitlab/report", "not writable")  # no one, not even root, makes a directory in /proc
    corrupt = tmp_path / "corrupt"
    shutil.copytree(trained.best, corrupt)
    (corrupt / "weights.safetensors").write_bytes(b"\x00" * 64)
    refused(tmp_path / "r", "corrupt", checkpoint=corrupt)
    assert not (tmp_path / "r").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt", "notes.txt", "theirs"]


def test_a_failed_report_keeps_the_previous_one(trained, tmp_path, monkeypatch):
    evaluation = evaluate(trained.best, robustness_images=200, per_family=100)  # the held-out sets of report_dir
    out = write_report(evaluation, tmp_path / "report")
    before = (out / "metrics.json").read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("plotting failed")

    monkeypatch.setattr(report_module.plots, "reliability_diagram", broken)
    with pytest.raises(RuntimeError):
        write_report(evaluation, out)
    assert (out / "metrics.json").read_bytes() == before
    assert {p.name for p in out.iterdir()} == REPORT_FILES
    assert [p.name for p in tmp_path.iterdir()] == ["report"]  # no half-written leftovers
    with pytest.raises(DigitlabError, match="robustness images"):
        evaluate(trained.best, robustness_images=0)


def test_compare_two_checkpoints(trained, tmp_path):
    out = tmp_path / "cmp"
    proc = run_cli("compare", trained.best, trained.last, "--out", out, "--robustness-images", "300")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:5] == ["checkpoint", "accuracy", "loss", "ECE", "params"]
    assert str(trained.best) in proc.stdout and str(trained.last) in proc.stdout
    rows = json.loads((out / "compare.json").read_text())
    assert [r["checkpoint"] for r in rows] == [str(trained.best), str(trained.last)]
    assert all(r["accuracy"] > 0.95 and r["parameters"] == 242442 for r in rows)
    assert (out / "training_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert_clean_error(run_cli("compare", trained.best, "--out", tmp_path / "c2"), "at least two")
