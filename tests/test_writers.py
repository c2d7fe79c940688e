"""The other-writers check (evaluation/writers.py): digits, numbers and letters rendered from
three Debian handwriting font packages, never trained on. No model is trained here: the
renderer is checked on its own, and `check_writers`'s arithmetic with stand-in readers.

The fonts are a requirement, not an option: without them these tests fail with the
apt-get command that installs them (the Makefile's test target installs them)."""

import json
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from digitlab.errors import DigitlabError
from digitlab.evaluation import writers
from digitlab.evaluation.writers import FAMILIES, check_writers, font_files, format_writers, writer_set

COUNT = 12  # per family: four items of each font
BRIEF_DIGIT_LIKE = "lIOoZzSsBgqbGij"  # letters a person may rightly read as a digit


@pytest.fixture(scope="module")
def sets():
    return {family: writer_set(family, COUNT, seed=3) for family in FAMILIES}


def _package_files(package: str) -> set[str]:
    listing = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True, check=False)
    assert listing.returncode == 0, f"{package} is not installed: {writers.INSTALL}"
    return {line for line in listing.stdout.splitlines() if line.lower().endswith((".ttf", ".otf"))}


def test_the_renderer_is_seeded():
    for family in FAMILIES:
        first, again = writer_set(family, 4, seed=1), writer_set(family, 4, seed=1)
        other = writer_set(family, 4, seed=2)
        assert all(np.array_equal(a.image, b.image) and a.written == b.written for a, b in zip(first, again))
        assert all(not np.array_equal(a.image, b.image) for a, b in zip(first, other))
        # each item has its own stream: a shorter set is the start of a longer one
        assert all(np.array_equal(a.image, b.image) for a, b in zip(writer_set(family, 2, seed=1), first))


def test_every_family_is_dark_ink_on_white_paper_at_a_drawings_size(sets):
    for family, items in sets.items():
        assert len(items) == COUNT
        for item in items:
            image = item.image
            assert item.family == family
            assert image.dtype == np.uint8 and image.ndim == 2 and image.shape[0] >= 280, (family, image.shape)
            assert np.median(image) == 255 and image.min() <= 45, (family, item.written, image.min())
            rows = np.flatnonzero(image.min(1) < 128)
            assert 30 <= rows[-1] - rows[0] + 1 <= 140, (family, item.written, rows[-1] - rows[0] + 1)
            band = 6  # the writing keeps clear of the paper's edges
            for edge in (image[:band], image[-band:], image[:, :band], image[:, -band:]):
                assert (edge == 255).all(), (family, item.written)


def test_each_font_writes_an_equal_share_of_every_family(sets):
    stems = {path.stem for path in font_files()}
    assert len(stems) == 3
    for family, items in sets.items():
        assert Counter(item.font for item in items) == {stem: COUNT // 3 for stem in stems}, family


def test_the_fonts_come_from_the_three_packages_and_no_other(sets):
    listed = {package: _package_files(package) for package in writers.PACKAGES}
    assert set(writers.PACKAGES) == {"fonts-humor-sans", "fonts-ecolier-court", "fonts-havana"}
    used = [str(path) for path in font_files()]
    for package, files in listed.items():
        assert files and files <= set(used), package  # every package's fonts, each from its package
    assert set(used) <= set().union(*listed.values())
    stems = {Path(f).stem for f in used}
    assert {item.font for items in sets.values() for item in items} == stems


def test_single_digits_run_through_every_digit_in_every_font():
    items = writer_set("digits", 30, seed=0)
    assert Counter((item.font, item.text) for item in items) == {(font.stem, str(d)): 1 for font in font_files()
                                                                 for d in range(10)}
    assert all(item.written == item.text for item in items)


def test_numbers_have_two_to_five_digits_as_their_truth(sets):
    for family in ("numbers_spaced", "numbers_written"):
        lengths = set()
        for item in writer_set(family, 30, seed=5):
            assert item.text == item.written and item.text.isdigit() and item.text[0] != "0", item.text
            lengths.add(len(item.text))
        assert lengths == {2, 3, 4, 5}, family


def test_letters_leave_out_the_digit_like_ones_and_are_not_digits():
    assert set(BRIEF_DIGIT_LIKE) <= set(writers.DIGIT_LIKE)
    letters = writer_set("letters", 90, seed=4)
    strings = writer_set("letter_strings", 30, seed=4)
    for item in letters + strings:
        assert item.text is None and item.written.isalpha(), item.written
        assert not set(item.written) & set(writers.DIGIT_LIKE), item.written
        assert not set(item.written) & set(writers.BROKEN_GLYPHS.get(item.font, "")), (item.font, item.written)
    assert {len(item.written) for item in letters} == {1}
    assert {len(item.written) for item in strings} == {2, 3}
    assert any(c.islower() for item in letters for c in item.written)
    assert any(c.isupper() for item in letters for c in item.written)


def _blank_runs(image: np.ndarray, least: int = 3) -> int:
    """Runs of at least `least` columns with no ink, inside the ink's left-right extent."""
    inked = image.min(0) < 250
    inside = inked[np.flatnonzero(inked)[0]:np.flatnonzero(inked)[-1] + 1]
    edges = np.diff(np.concatenate([[1], inside.astype(int), [1]]))
    starts, ends = np.flatnonzero(edges == -1), np.flatnonzero(edges == 1)
    return int(np.sum(ends - starts >= least))


def test_spaced_numbers_stand_apart(sets):
    for item in sets["numbers_spaced"] + writer_set("numbers_spaced", 30, seed=8):
        assert _blank_runs(item.image) >= len(item.text) - 1, (item.font, item.text)


def test_missing_fonts_fail_with_the_install_command(monkeypatch):
    monkeypatch.setattr(writers, "_package_fonts", lambda package: [])
    font_files.cache_clear()
    try:
        with pytest.raises(DigitlabError, match="apt-get install -y -q fonts-humor-sans fonts-ecolier-court "
                                                "fonts-havana"):
            writer_set("digits", 1, seed=0)
    finally:
        monkeypatch.undo()
        font_files.cache_clear()
    assert len(font_files()) == 3


def test_an_unknown_family_is_refused():
    with pytest.raises(DigitlabError, match="unknown family"):
        writer_set("cursive", 1, seed=0)


@dataclass(frozen=True)
class Answer:  # the predictor's answer as the coming dataclass
    number: str | None
    digits: list
    rejected: bool
    reason: str | None = None


class Reads:
    """A stand-in predictor: reads every picture as `number`, rejected or not, answering as a
    dict (today's `read_gray`) or as an object."""

    def __init__(self, number: str, rejected: bool, as_object: bool = False):
        self.number, self.rejected, self.as_object, self.seen = number, rejected, as_object, []

    def read_gray(self, gray):
        self.seen.append(gray)
        answer = Answer(self.number, [{"digit": int(d)} for d in self.number], self.rejected)
        return answer if self.as_object else vars(answer)


def test_check_writers_figures_from_a_stand_in_reader():
    reader = Reads("0", rejected=False)
    result = check_writers(reader, 6, seed=0)
    assert len(reader.seen) == 6 * len(FAMILIES)
    assert all(gray.dtype == np.float32 and gray.max() == 255 for gray in reader.seen)  # as decoded pictures are
    digits = result["families"]["digits"]  # items 0-5: 0 0 0 1 1 1 (one of each per font, twice)
    assert digits["right"] == 0.5 and digits["rejected"] == 0 and digits["several"] == 0
    assert digits["by_font"] == {font.stem: 0.5 for font in font_files()}
    for family in ("numbers_spaced", "numbers_written"):
        assert result["families"][family]["right"] == 0 and result["families"][family]["miscounted"] == 1
    for family in ("letters", "letter_strings"):
        figures = result["families"][family]
        assert figures["rejected"] == 0 and figures["accepted"] == 1 and figures["several_of_accepted"] == 0
        assert sum(sum(reads.values()) for reads in figures["accepted_as"].values()) == 6
    assert check_writers(Reads("0", rejected=False, as_object=True), 6, seed=0) == result

    rejecting = check_writers(Reads("12", rejected=True), 6, seed=0)["families"]
    assert rejecting["digits"]["right"] == 0 and rejecting["digits"]["several"] == 1
    assert rejecting["letters"]["rejected"] == 1 and rejecting["letters"]["several_of_accepted"] is None
    assert rejecting["letters"]["by_font"] == {font.stem: 1.0 for font in font_files()}


def test_the_table_names_every_family_and_font():
    table = format_writers(check_writers(Reads("7", rejected=False), 3, seed=0))
    for name in FAMILIES + tuple(font.stem for font in font_files()):
        assert name[:14] in table, name


def test_evaluate_writers_reports_what_the_library_reads(reader, capsys):
    """`digitlab evaluate --writers` gives the figures `check_writers` computes with the same
    model read the same way (the run's line reader, when there is one, included)."""
    from digitlab.cli import main

    assert main(["evaluate", str(reader.checkpoint.path), "--writers", "--per-family", "10", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(json.dumps(check_writers(reader, 10)))
    assert printed["families"]["digits"]["right"] >= 0.5  # a model that reads MNIST reads most of these
    assert main(["evaluate", str(reader.checkpoint.path), "--writers", "--numbers"]) == 2
