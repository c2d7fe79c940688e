"""What a user hits when a file, a model or a store is wrong: exit code 2, one line that
names what to fix, no traceback, and at once."""

import time

import pytest

from conftest import free_port, png_bytes, run_cli
from digitlab.cli import main


def bad_images(tmp_path):
    """A missing file, an empty one and a text file, with what each one's message must say."""
    empty, text = tmp_path / "empty.png", tmp_path / "notes.png"
    empty.write_bytes(b"")
    text.write_text("a shopping list, not a picture\n")
    return [(tmp_path / "missing.png", "No such file"), (empty, "empty"), (text, "not a readable image")]


def test_predict_names_each_file_it_cannot_read(trained, mnist, tmp_path, capsys):
    from PIL import Image

    for path, problem in bad_images(tmp_path):
        assert main(["predict", str(path), "--model", str(trained.best)]) == 2
        out, err = capsys.readouterr()
        lines = (out + err).strip().splitlines()
        assert len(lines) == 1 and str(path) in lines[0] and problem in lines[0], (out, err)
        assert "Traceback" not in err
    # a bad file among good ones: the others are still read, and the exit code says one failed
    good = tmp_path / "seven.png"
    good.write_bytes(png_bytes(Image.fromarray(255 - mnist.test_images[0].numpy())))
    assert main(["predict", str(tmp_path / "missing.png"), str(good), "--model", str(trained.best)]) == 2
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and "error" in lines[0] and lines[1].startswith(f"{good}: ") and "error" not in lines[1]


def test_predict_as_a_program_exits_2_without_a_traceback(trained, tmp_path):
    """The real program (its quick exit skips the interpreter's teardown): the lines still come out."""
    cases = bad_images(tmp_path)
    proc = run_cli("predict", *[path for path, _ in cases], "--model", trained.best, timeout=60, program=True)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == len(cases), proc.stdout
    for line, (path, problem) in zip(lines, cases):
        assert line.startswith(f"{path}: error: ") and problem in line, line


def test_predict_with_a_missing_model_names_it(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "x.png"), "--model", str(tmp_path / "nowhere" / "best")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nowhere/best" in err and "not found" in err, err


@pytest.fixture
def serve_refused(monkeypatch):
    """`serve` must stop before it starts a server; one that starts fails the test instead of hanging it."""
    def refuse(config):
        raise AssertionError(f"a server was started for {config.models}")

    monkeypatch.setattr("digitlab.web.server.serve", refuse)


def serve_error(args, capsys) -> str:
    """Run `digitlab serve ARGS` in process: it must fail cleanly within seconds; its message."""
    start = time.perf_counter()
    assert main(["serve", *args]) == 2
    seconds = time.perf_counter() - start
    out, err = capsys.readouterr()
    assert seconds < 10, seconds
    assert err.startswith("digitlab: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and "serving" not in out, (out, err)
    return err


def test_serve_with_a_bad_model_path_names_it(serve_refused, tmp_path, capsys):
    typo = tmp_path / "nowhere" / "best"
    for extra in ([], ["--no-store"]):
        err = serve_error(["--model", str(typo), *extra], capsys)
        assert str(typo) in err and "not found" in err, err
        assert not (tmp_path / "nowhere").exists(), "a failed serve left a directory (and a store) behind"
    not_a_checkpoint = tmp_path / "photos"
    not_a_checkpoint.mkdir()
    (not_a_checkpoint / "cat.jpg").write_bytes(b"\xff\xd8")
    err = serve_error(["--model", str(not_a_checkpoint), "--no-store"], capsys)
    assert str(not_a_checkpoint) in err and "is not a digitlab checkpoint" in err, err


def test_serve_with_a_bad_store_names_it(serve_refused, trained, tmp_path, capsys):
    port = free_port()  # nothing listens there: the connection is refused at once
    err = serve_error(["--model", str(trained.best), "--store", f"postgresql://digitlab@127.0.0.1:{port}/x"], capsys)
    assert "cannot open the sample store" in err and f"127.0.0.1:{port}" in err, err
    (tmp_path / "a-file").write_text("x")
    err = serve_error(["--model", str(trained.best), "--store", str(tmp_path / "a-file" / "samples.db")], capsys)
    assert "a-file is a file, not a directory" in err and "samples.db" in err, err
