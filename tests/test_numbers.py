"""Numbers as people write them: the generator, and reading digits that touch."""

import json
from collections import defaultdict

import numpy as np
import pytest

from conftest import boxes_over_their_digits, run_cli
from digitlab.cli import main
from digitlab.data.numbers import STYLES, numbers
from digitlab.evaluation.numbers import edit_distance, numbers_evaluation
from digitlab.recognition import segment
from digitlab.recognition.predictor import Predictor
from digitlab.recognition.preprocess import find_pieces
from digitlab.runs.split import validation_images


def test_the_generator_is_seeded_and_its_truth_gaps_and_boxes_are_right(mnist):
    images, labels = mnist.test_images[:500], mnist.test_labels[:500]
    a = numbers(40, images, labels, seed=3, slant=0.0, thicken=0.0)
    b = numbers(40, images, labels, seed=3, slant=0.0, thicken=0.0)
    assert [n.text for n in a] == [n.text for n in b]
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, b))
    assert [n.text for n in numbers(40, images, labels, seed=4)] != [n.text for n in a]
    assert {n.style for n in a} == set(STYLES)
    for n in a:
        assert 3 <= len(n.text) <= 5 and n.text.isdigit() and len(n.boxes) == len(n.text)
        lo, hi = STYLES[n.style]
        assert all(lo <= g <= hi for g in n.gaps)
        h, w = n.image.shape
        for (x0, y0, bw, bh), (x1, _, bw1, _), gap in zip(n.boxes, n.boxes[1:], n.gaps):
            assert 0 <= x0 and x0 + bw <= w and 0 <= y0 and y0 + bh <= h
            # upright numbers: the space between neighbouring boxes is the drawn gap
            # (a share of their mean width), to within the two pixels of rounding and anti-aliasing
            assert abs((x1 - (x0 + bw)) - gap * (bw + bw1) / 2) <= 3
        # each digit owns its ink: the owner map names every digit, and only where there is ink
        assert set(np.unique(n.owner)) == set(range(len(n.text) + 1))
        assert (n.image[n.owner > 0] > 0).all()
    with pytest.raises(ValueError, match="2 to 6"):
        numbers(1, images, labels, lengths=(1, 3))
    with pytest.raises(ValueError, match="unknown gap style"):
        numbers(1, images, labels, styles=("kerned",))


def test_edit_distance():
    assert edit_distance("1234", "1234") == 0
    assert edit_distance("1234", "124") == 1
    assert edit_distance("17", "4") == 2
    assert edit_distance("", "55") == 2


def touching_pairs(mnist, count=60):
    """Two-digit numbers whose digits touch, made from test digits, that today's stroke
    grouping sees as one shape."""
    made = numbers(3 * count, mnist.test_images[:2000], mnist.test_labels[:2000], seed=11, lengths=(2, 2),
                   styles=("touching",), slant=8.0, thicken=0.0)
    return [n for n in made if len(find_pieces(255.0 - n.image)) == 1][:count]


def touching_accuracy(reader, pairs) -> float:
    return float(np.mean([reader.read_gray(255.0 - n.image).number == n.text for n in pairs]))


def test_touching_digits_read_as_one_shape_today_are_read_as_two(reader, mnist):
    pairs = touching_pairs(mnist)
    assert len(pairs) >= 40
    assert all(len(reader.read_gray(255.0 - n.image, split=False).digits) == 1 for n in pairs)
    assert touching_accuracy(reader, pairs) >= 0.6
    # each digit read keeps its box: over the right digit's ink
    assert np.mean(boxes_over_their_digits(reader, pairs)) >= 0.9


def test_a_splitter_that_makes_no_cuts_fails_the_touching_test(reader, mnist, monkeypatch):
    pairs = touching_pairs(mnist)
    monkeypatch.setattr(segment, "candidate_cuts", lambda ink, height: [])
    assert touching_accuracy(reader, pairs) < 0.2


def test_single_digits_and_spaced_numbers_read_as_before(reader, mnist):
    apart = numbers(60, mnist.test_images[:2000], mnist.test_labels[:2000], seed=12, styles=("apart",))
    now = np.mean([reader.read_gray(255.0 - n.image).number == n.text for n in apart])
    before = np.mean([reader.read_gray(255.0 - n.image, split=False).number == n.text for n in apart])
    assert now >= before - 1 / 60 and now >= 0.8


def figures_read(predictor, made, **how) -> dict[str, dict]:
    """The rows `evaluate --numbers` writes for the numbers `made` read by
    `predictor.read_gray(..., **how)`, counted here from the readings: per group (gap style,
    length, all) how many, the share read right and the share of digits right (1 - edits /
    digits, the edits of a number at most its digits)."""
    groups = defaultdict(list)
    for n in made:
        text = predictor.read_gray(255.0 - n.image.astype(np.float32), **how).number or ""
        for group in (n.style, f"length {len(n.text)}", "all"):
            groups[group].append((text == n.text, min(edit_distance(text, n.text), len(n.text)), len(n.text)))
    return {group: {"n": len(g), "accuracy": sum(r for r, _, _ in g) / len(g),
                    "digit_accuracy": 1 - sum(e for _, e, _ in g) / sum(d for _, _, d in g)}
            for group, g in groups.items()}


def test_evaluate_numbers_cli(trained, capsys):
    proc = run_cli("evaluate", str(trained.best), "--numbers", "--count", "10", "--split", "val", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["ms_per_number"] > 0
    # every figure but the time is the library's for the same numbers...
    predictor = Predictor.load(trained.best)
    expected = numbers_evaluation(predictor, split="val", n=10).to_json()
    assert result == {**expected, "ms_per_number": result["ms_per_number"]}
    assert {"apart", "touching", "overlap<=20%", "overlap>20%", "all"} <= set(result["readers"]["reader"])
    # ... and the reader's are those of the 10 validation numbers as it reads them
    made = numbers(10, *validation_images(predictor.checkpoint), seed=0)
    assert result["readers"]["reader"] == figures_read(predictor, made)
    assert result["single_digits_several"]["reader"] <= 0.05  # a single digit is seldom cut in two
    assert main(["evaluate", str(trained.best), "--numbers", "--count", "5"]) == 2
    assert "at least 10" in capsys.readouterr().err
