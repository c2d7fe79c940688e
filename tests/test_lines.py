"""The line reader: a CTC network that reads a group of touching digits whole (lines/)."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import boxes_over_their_digits
from test_numbers import figures_read
from digitlab.cli import main
from digitlab.data.negatives import render_family
from digitlab.data.numbers import numbers
from digitlab.errors import DigitlabError
from digitlab.models.line_net import BLANK, CLASSES, LineNet
from digitlab.recognition.line_reader import LineReader, collate, greedy_decode, line_input, load_line_reader
from digitlab.recognition.predictor import Predictor
from digitlab.training.line_examples import number_examples, piece_truth
from digitlab.training.lines import LinesConfig, save_line_reader, stretch, train_line_reader
from digitlab.recognition.preprocess import find_pieces


@pytest.fixture(scope="session")
def line_reader(reader, tmp_path_factory):
    """A line reader trained briefly for the `reader` fixture's model: 3,000 numbers of 2-3 digits,
    most of them overlapping, 6 epochs (about 35 s here)."""
    out = tmp_path_factory.mktemp("lines") / "lines"
    cfg = LinesConfig(numbers=3000, negatives=500, epochs=6, lengths=(2, 3), val_numbers=200,
                      styles=("apart", "touching", "overlap<=20%", "overlap<=20%", "overlap>20%"))
    train_line_reader(reader.checkpoint.path, out, cfg, progress=False, log=lambda s: None)
    return LineReader(out)


def overlapping(mnist, count=100, seed=21):
    """Numbers of 2-3 test digits that overlap by 5-20% of a digit's width."""
    return numbers(count, mnist.test_images[:3000], mnist.test_labels[:3000], seed=seed, lengths=(2, 3),
                   styles=("overlap<=20%",))


def accuracy(predictor, made, **how) -> float:
    return float(np.mean([predictor.read_gray(255.0 - n.image, **how).number == n.text for n in made]))


def reads_overlapping_numbers(with_lines, made) -> tuple[bool, float, float]:
    """The accuracy test: with the line reader, clearly more overlapping numbers read right than
    by splitting alone. Returns the verdict and both accuracies."""
    read, split_only = accuracy(with_lines, made), accuracy(with_lines, made, lines=False)
    return read >= 0.65 and read >= split_only + 0.06, read, split_only


def test_greedy_decoding_merges_repeats_drops_blanks_and_keeps_frames():
    path = [BLANK, 3 + 1, 3 + 1, BLANK, 3 + 1, 7 + 1, BLANK, BLANK]
    lp = np.full((CLASSES, len(path)), np.log(0.01), np.float32)
    lp[path, range(len(path))] = np.log(0.9)
    digits, confidence = greedy_decode(lp, len(path))
    assert [d.digit for d in digits] == [3, 3, 7]  # a blank between the two 3s keeps both
    assert [d.frames for d in digits] == [(1, 2), (4, 4), (5, 5)]
    assert all(abs(d.probs.sum() - 1) < 1e-5 and d.probs.argmax() == d.digit for d in digits)
    assert confidence == pytest.approx(0.9 ** len(path), rel=1e-4)
    assert greedy_decode(lp, 1) == ([], pytest.approx(0.9))  # only the valid frames are read


def test_line_inputs_batches_and_stretching_keep_their_frames():
    tall = np.zeros((90, 300), np.float32)
    tall[10:80, 20:260] = 1
    a = line_input(tall)
    assert a.shape[0] == 32 and a.max() == 1 and a[:2].max() == 0  # a margin above the ink
    x, frames = collate([a, line_input(tall[:, :60])])
    assert x.shape[:3] == (2, 1, 32) and x.shape[3] % 4 == 0
    assert frames[0] == a.shape[1] // 4 and frames[1] < frames[0]
    wide, wider = stretch(x, frames, 1.2)
    assert wide.shape[3] > x.shape[3] and (wider >= frames).all()
    assert LineNet()(x).shape == (2, CLASSES, x.shape[3] // 4)


def test_training_groups_carry_the_digits_whose_ink_they_hold(mnist):
    images, labels = mnist.train_images[:2000], mnist.train_labels[:2000]
    for style in ("apart", "overlap<=20%"):
        made = numbers(40, images, labels, seed=5, lengths=(2, 6), styles=(style,))
        spelled, multi = [], 0
        for n in made:
            truths = [piece_truth(p, n.owner, n.image / 255, n.text) for p in find_pieces(255.0 - n.image)]
            spelled.append("".join(t or "" for t in truths) == n.text)  # left to right, every digit once
            multi += sum(t is not None and len(t) > 1 for t in truths)
        assert np.mean(spelled) >= 0.9, style
        assert (multi > 10) == (style != "apart"), (style, multi)
    inputs, texts = number_examples(20, images, labels, seed=5)
    assert len(inputs) == len(texts) >= 40 and all(a.shape[0] == 32 and a.max() == 1 for a in inputs)


def test_the_line_reader_reads_overlapping_numbers_that_splitting_cannot(reader, line_reader, mnist):
    made = overlapping(mnist)
    with_lines = replace(reader, lines=line_reader)
    passed, read, split_only = reads_overlapping_numbers(with_lines, made)
    assert passed, (read, split_only)
    # each digit it reads keeps a box over that digit's ink
    assert np.mean(boxes_over_their_digits(with_lines, made)) >= 0.8


def test_a_line_reader_that_never_learned_fails_the_test(reader, mnist, tmp_path):
    torch.manual_seed(1)
    save_line_reader(tmp_path / "lines", LineNet(), LinesConfig(), {}, [])
    untrained = replace(reader, lines=LineReader(tmp_path / "lines"))
    passed, read, split_only = reads_overlapping_numbers(untrained, overlapping(mnist))
    assert not passed, (read, split_only)


def test_where_the_line_reader_sees_no_digit_the_group_is_split_as_before(reader, line_reader, mnist, monkeypatch):
    made = overlapping(mnist, count=20, seed=22)
    with_lines = replace(reader, lines=line_reader)
    before = [reader.read_gray(255.0 - n.image, lines=False) for n in made]
    monkeypatch.setattr(line_reader, "read", lambda pieces: [replace(r, digits=[]) for r in
                                                              LineReader.read(line_reader, pieces)])
    assert [with_lines.read_gray(255.0 - n.image) for n in made] == before


def test_single_digits_and_non_digits_read_as_before(reader, line_reader, mnist):
    with_lines = replace(reader, lines=line_reader)
    picks = range(0, 3000, 15)  # 200 test digits, drawn at twice MNIST's size
    drawings = [255.0 - np.kron(mnist.test_images[k].numpy().astype(np.float32), np.ones((2, 2))) for k in picks]
    truth = [str(int(mnist.test_labels[k])) for k in picks]
    now = np.mean([with_lines.read_gray(g).number == t for g, t in zip(drawings, truth)])
    before = np.mean([reader.read_gray(g).number == t for g, t in zip(drawings, truth)])
    assert now >= before - 1 / 200 and now >= 0.95
    # held-out non-digits are rejected as often as without it
    shapes = np.concatenate([render_family(f, 40, "val", seed=0) for f in ("letters", "scribbles", "shapes")])
    drawn = [255.0 - np.kron(s.astype(np.float32), np.ones((2, 2))) for s in shapes]
    rejected_now = np.mean([with_lines.read_gray(g).rejected for g in drawn])
    rejected_before = np.mean([reader.read_gray(g).rejected for g in drawn])
    assert rejected_now >= rejected_before - 0.05, (rejected_now, rejected_before)


def test_a_mark_beside_a_digit_joins_it(mnist):
    one = np.kron(mnist.test_images[2].numpy().astype(np.float32), np.ones((2, 2)))  # a 1
    canvas = np.zeros((70, 140), np.float32)
    canvas[5:61, 10:66] = one
    cols = np.nonzero(one.max(0) > 64)[0]
    right = 10 + int(cols.max()) + 3
    canvas[50:55, right:right + 5] = 255  # a dot just after it
    assert len(find_pieces(255.0 - canvas)) == 1
    canvas[50:55, right + 40:right + 45] = 255  # far off, a dot stays its own shape
    assert len(find_pieces(255.0 - canvas)) == 2


def test_a_line_reader_checkpoint_is_checked(reader, line_reader, tmp_path):
    with pytest.raises(DigitlabError, match="not a line reader"):
        load_line_reader(reader.checkpoint.path)
    loaded = load_line_reader(line_reader.path)
    assert loaded.meta["model"]["kind"] == "line-reader" and loaded.meta["metrics"]["val_group_accuracy"] > 0.5
    broken = tmp_path / "broken"
    save_line_reader(broken, LineNet(), LinesConfig(), {}, [])
    data = (broken / "weights.safetensors").read_bytes()
    (broken / "weights.safetensors").write_bytes(data[:-10] + b"0123456789")
    with pytest.raises(DigitlabError, match="corrupt"):
        load_line_reader(broken)


def test_train_lines_cli_and_the_lines_option(trained, mnist, tmp_path, capsys):
    out = tmp_path / "lines"
    assert main(["train-lines", "--model", str(trained.best), "--out", str(out), "--numbers", "60", "--negatives",
                 "10", "--epochs", "1", "--val-numbers", "20", "--quiet"]) == 0
    assert "wrote" in capsys.readouterr().out and (out / "model.json").is_file()
    assert main(["evaluate", str(trained.best), "--numbers", "--count", "10", "--lines", str(out), "--json"]) == 0
    readers = json.loads(capsys.readouterr().out)["readers"]
    assert set(readers) == {"reader", "splitting only", "strokes only"}
    # the reader's figures are those of the 10 test numbers read here with that line reader
    made = numbers(10, mnist.test_images, mnist.test_labels, seed=0)
    assert readers["reader"] == figures_read(Predictor.load(trained.best, lines=out), made)
    (tmp_path / "file").write_text("x")
    for args, message in [(["evaluate", str(trained.best), "--numbers", "--lines", str(trained.best)],
                           "not a line reader"),
                          (["train-lines", "--model", str(trained.best), "--out", str(tmp_path / "file")], "is a file"),
                          (["train-lines", "--model", str(tmp_path / "nowhere")], "not found")]:
        assert main(args) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
