"""The group judge: one decision per stroke group (one digit, several digits, or not a digit)."""

import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageDraw
from sklearn.metrics import roc_auc_score

from digitlab.cli import main
from digitlab.data.numbers import numbers
from digitlab.errors import DigitlabError
from digitlab.models.group_net import NOT, ONE, SEVERAL
from digitlab.recognition import group_judge
from digitlab.recognition.group_judge import INK_HEIGHT, GroupJudge, group_input, load_group_judge
from digitlab.recognition.predictor import Predictor
from digitlab.training.group_examples import group_examples
from digitlab.training.groups import GroupsConfig, calibrate, train_group_judge


@pytest.fixture(scope="session")
def judge(reader, tmp_path_factory):
    """A small group judge trained briefly for the `reader` fixture's model (5,000 groups, 3 epochs)."""
    out = tmp_path_factory.mktemp("groups") / "groups"
    cfg = GroupsConfig(ones=2000, several=1200, nots=1800, epochs=3, val_groups=300, width=16)
    train_group_judge(reader.checkpoint.path, out, cfg, progress=False, log=lambda s: None)
    return GroupJudge(out)


def _drawn(points, pen: int, size=(120, 120)) -> np.ndarray:
    image = Image.new("L", size, 0)
    ImageDraw.Draw(image).line(points, fill=255, width=pen, joint="curve")
    return np.asarray(image, np.float32) / 255


def test_a_group_is_drawn_again_with_one_pen_keeping_its_shape_and_width():
    seven = [(20, 20), (90, 20), (45, 100)]
    thin, thick = group_input(_drawn(seven, 3)), group_input(_drawn(seven, 14))
    other = group_input(_drawn([(20, 20), (20, 100), (90, 100)], 8))  # an L, as wide and tall
    assert np.abs(thin - thick).mean() < 0.5 * np.abs(thin - other).mean()
    # the pen is gone: as much ink either way, within a fifth
    assert 0.8 < thin.sum() / thick.sum() < 1.25
    # a wide group stays wide: three times as wide as tall
    bar = group_input(_drawn([(10, 40), (100, 40), (100, 70), (10, 70), (10, 40)], 4, (120, 120)))
    rows, cols = np.nonzero(bar > 0.5)
    assert rows.max() - rows.min() <= INK_HEIGHT and 2.3 < (cols.max() - cols.min()) / (rows.max() - rows.min()) < 3.9


def test_calibration_rejects_at_most_the_rate_of_digit_groups():
    rng = np.random.default_rng(0)
    classes = np.repeat([ONE, SEVERAL, NOT], 1000)
    not_score = np.concatenate([rng.uniform(0, 0.5, 2000), rng.uniform(0.3, 1, 1000)])
    probs = np.stack([(1 - not_score) * 0.7, (1 - not_score) * 0.3, not_score], 1)
    result = calibrate(probs, classes, rate=0.01)
    rejected = (probs[classes != NOT, NOT] >= result["not_threshold"]).mean()
    assert 0.005 <= rejected <= 0.01 and result["val_digits_rejected"] == pytest.approx(rejected)
    assert result["val_right"]["one digit"] > 0.98 and result["val_right"]["several digits"] == 0.0
    assert result["val_right"]["not a digit"] == pytest.approx((probs[classes == NOT, NOT] >= result["not_threshold"]).mean())


def test_a_trained_judge_tells_one_digit_several_and_not_a_digit_apart(judge, mnist):
    """Groups from test digits and the generator's test part: one and several told apart, the
    not-a-digit score ranks non-digits above digit groups, and the calibrated threshold keeps
    digit groups."""
    x, y = group_examples(mnist.test_images[:3000], mnist.test_labels[:3000], (300, 300, 300), "test", 5)
    probs = judge.probabilities_of(x.astype(np.float32) / 255)
    decided = np.array([group_judge.DECISIONS.index(d) for d in group_judge.decisions(probs, judge.not_threshold)])
    apart = probs[:, :NOT].argmax(1)
    right = {k: float((apart[y == k] == k).mean()) for k in (ONE, SEVERAL)}
    auroc = roc_auc_score(y == NOT, probs[:, NOT])
    print(right, auroc, (decided[y == NOT] == NOT).mean())
    assert right[ONE] >= 0.95 and right[SEVERAL] >= 0.9 and auroc >= 0.85, (right, auroc)
    assert (decided[y != NOT] == NOT).mean() <= 0.02


class Stub:
    """A judge that decides the same for every group."""
    path = "stub"

    def __init__(self, decision):
        self.decision = decision

    def decide(self, pieces):
        return [self.decision] * len(pieces)


def test_the_reading_path_obeys_the_decision_per_group(reader, mnist):
    made = numbers(30, mnist.test_images[:3000], mnist.test_labels[:3000], seed=3, lengths=(2, 2),
                   styles=("touching",))
    made = [n for n in made if len(reader.guesses(255.0 - n.image, split=False)) == 1][:15]  # one stroke group
    assert len(made) >= 10
    counts = {}
    for decision in ("one", "several", "not"):
        judged = replace(reader, groups=Stub(decision))
        readings = [judged.read_gray(255.0 - n.image) for n in made]
        counts[decision] = [len(r.digits) for r in readings]
        if decision == "not":
            assert all(r.rejected and "seen whole" in r.reason for r in readings)
        if decision == "several":
            assert np.mean([r.number == n.text for r, n in zip(readings, made)]) >= 0.7
    assert counts["one"] == [1] * len(made) and counts["not"] == [1] * len(made)
    assert np.mean(np.array(counts["several"]) == 2) >= 0.8
    unjudged = replace(reader, groups=None)
    assert np.mean([len(unjudged.read_gray(255.0 - n.image).digits) == 2 for n in made]) >= 0.8


def test_train_groups_cli_the_groups_option_and_checked_checkpoints(trained, tmp_path, capsys):
    out = tmp_path / "groups"
    assert main(["train-groups", "--model", str(trained.best), "--out", str(out), "--ones", "200", "--several",
                 "150", "--nots", "200", "--epochs", "1", "--val-groups", "50", "--quiet"]) == 0
    assert "wrote" in capsys.readouterr().out
    meta = json.loads((out / "model.json").read_text())
    assert meta["model"]["kind"] == "group-judge" and 0 < meta["calibration"]["not_threshold"] <= 1
    assert group_judge.beside(tmp_path / "best") == out and group_judge.beside(trained.best) is None
    assert Predictor.load(trained.best, groups=out, warm=False).info["group_judge"] == str(out)
    assert main(["evaluate", str(trained.best), "--numbers", "--count", "10", "--groups", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["numbers"] == 10
    with pytest.raises(DigitlabError, match="not a group judge"):
        load_group_judge(trained.best)
    del meta["calibration"]
    (out / "model.json").write_text(json.dumps(meta))
    with pytest.raises(DigitlabError, match="no calibrated threshold"):
        GroupJudge(out)
    (tmp_path / "file").write_text("x")
    for args, message in [(["predict", str(tmp_path / "file"), "--model", str(trained.best), "--groups",
                            str(trained.best)], "not a group judge"),
                          (["train-groups", "--model", str(trained.best), "--out", str(tmp_path / "file")], "is a file"),
                          (["train-groups", "--model", str(tmp_path / "nowhere")], "not found")]:
        assert main(args) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
