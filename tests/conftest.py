import io
import os
import socket
import threading
import time
import traceback
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import replace
import subprocess
import sys

import pytest
import torch

from digitlab.data import load_mnist
from digitlab.training import recipe, train


@pytest.fixture(scope="session")
def mnist():
    return load_mnist()


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """The default recipe for 2 epochs on a 5k subset, digits only (no generated non-digits or
    degraded digits: test_open_set.py trains with those): the run the evaluation tests share."""
    cfg = replace(recipe("default", subset=5000, epochs=2), negatives=None, degrade=None)
    return train(cfg, tmp_path_factory.mktemp("run"), progress=False, log=lambda s: None)


@pytest.fixture(scope="session")
def reader(tmp_path_factory):
    """A stronger model for reading drawings (the default recipe, 30k images, 2 epochs: about 99%),
    loaded as a Predictor."""
    from digitlab.recognition.predictor import Predictor

    run = train(recipe("default", subset=30000, epochs=2), tmp_path_factory.mktemp("reader"), progress=False,
                log=lambda s: None)
    return Predictor.load(run.best)


@pytest.fixture(autouse=True)
def _seeded():
    """Each test starts from seed 0 and leaves torch's thread count as it found it (a worker's
    app sets its own)."""
    threads = torch.get_num_threads()
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def boxes_over_their_digits(predictor, made) -> list[bool]:
    """For each digit of the generated numbers read right, whether its box lies over that
    digit's ink (intersection over union with the true box at least 0.5)."""
    hits = []
    for n in made:
        answer = predictor.read_gray(255.0 - n.image)
        if answer.number != n.text:
            continue
        for got, want in zip(answer.digits, n.boxes):
            gx, gy, gw, gh = got.box
            wx, wy, ww, wh = want
            inter = max(0, min(gx + gw, wx + ww) - max(gx, wx)) * max(0, min(gy + gh, wy + wh) - max(gy, wy))
            hits.append(inter / (gw * gh + ww * wh - inter) >= 0.5)
    return hits


def run_cli(*args, env=None, timeout=300, program=False):
    """Run `digitlab ARGS` and return a CompletedProcess: its exit code, stdout and stderr.

    In this process by default, through the same `main` the program calls: a new interpreter
    costs 3-4 s of imports per call on 2 cores, a minute and a half over the suite. What a
    program would print as a traceback is caught and put in stderr, with exit code 1, so
    `assert_clean_error` sees it as it would. program=True runs `python -m digitlab` in a
    subprocess (with `timeout`), for what only a real process shows."""
    argv = list(map(str, args))
    if program:
        return subprocess.run([sys.executable, "-m", "digitlab", *argv], capture_output=True, text=True,
                              env=dict(os.environ, **(env or {})), timeout=timeout)
    from digitlab.cli import main

    saved_env, threads = dict(os.environ), torch.get_num_threads()
    out, err = io.StringIO(), io.StringIO()
    os.environ.update(env or {})
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as e:  # argparse: --help, a usage error
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
            except Exception:
                traceback.print_exc()
                code = 1
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        torch.set_num_threads(threads)
    return subprocess.CompletedProcess(["digitlab", *argv], code, out.getvalue(), err.getvalue())


def assert_clean_error(proc, *fragments):
    """A user-facing failure: exit code 2, the message names the problem, no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, (fragment, proc.stderr)


# Debian's Chromium, headless, kept off this machine's closed network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def png_bytes(image, fmt: str = "PNG") -> bytes:
    """A PIL image encoded as PNG (or `fmt`)."""
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_in_thread(app, wait: bool = True):
    """Serve an ASGI app with uvicorn on 127.0.0.1 (a free port) in a thread; yields its
    URL once the server has started (at once with wait=False)."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while wait and not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started or not wait, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def postgres_url():
    """One real PostgreSQL server for the whole session (tests/postgres.py); each test that
    needs a database makes its own with postgres.create_database."""
    from postgres import postgres_server

    with postgres_server(free_port()) as url:
        yield url
