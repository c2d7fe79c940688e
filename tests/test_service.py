"""The service as an operator runs it: workers, readiness, metrics, request logs, limits."""

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
from concurrent.futures import ThreadPoolExecutor
import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from conftest import free_port, png_bytes, serve_in_thread
from digitlab.web.app import create_app
from digitlab.web.limits import MAX_JSON_DEPTH, Limits
from digitlab.web.metrics import MULTIPROC_ENV


def drawn_one(side: int) -> bytes:
    """A one drawn down a white square of `side` pixels."""
    image = Image.new("L", (side, side), 255)
    ImageDraw.Draw(image).line([(side // 2, side // 8), (side // 2 - side // 20, side * 7 // 8)], fill=0,
                               width=max(2, side // 12))
    return png_bytes(image)


def request_count(metrics_text: str, route: str, status: str) -> float:
    """The value of digitlab_http_requests_total for one route and status (0 when absent)."""
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith("digitlab_http_requests_total{") and f'route="{route}"' in line \
                and f'status="{status}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def _get(url: str, timeout: float = 5) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_the_server_takes_connections_only_once_the_model_is_loaded_and_warmed(reader):
    release = threading.Event()

    def slow_load():
        release.wait(30)
        return reader

    with serve_in_thread(create_app(load=slow_load), wait=False) as url:
        time.sleep(0.5)
        with pytest.raises(OSError):  # refused: no probe and no request reaches a model still loading
            _get(url + "/api/ready", timeout=2)
        release.set()
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                status, text = _get(url + "/api/ready")
                break
            except OSError:
                time.sleep(0.05)
        assert status == 200 and json.loads(text)["load_seconds"] > 0, text
        request = urllib.request.Request(url + "/api/predict", data=drawn_one(64), headers={"Content-Type": "image/png"})
        with urllib.request.urlopen(request, timeout=30) as r:
            assert json.loads(r.read())["number"] == "1"


def test_a_model_that_fails_to_load_keeps_ready_at_503_naming_why():
    def broken():
        raise OSError("no such checkpoint: /nowhere")

    with TestClient(create_app(load=broken), raise_server_exceptions=False) as client:
        assert client.get("/api/health").status_code == 200  # the process is alive, and says what is wrong
        for path in ("/api/ready", "/api/model"):
            answer = client.get(path)
            assert answer.status_code == 503 and "/nowhere" in answer.json()["detail"], answer.text


def test_limits_set_on_the_app_are_the_ones_enforced_and_named(reader):
    limits = Limits(max_image_bytes=20_000, max_pixels=300 * 300, timeout_s=0.05)
    big = drawn_one(4096)  # ~28 KB, 16.7 M pixels, over a second to read
    with TestClient(create_app(reader, limits=limits), raise_server_exceptions=False) as client:
        small = client.post("/api/predict", content=drawn_one(200), headers={"content-type": "image/png"})
        assert small.status_code == 200 and small.json()["number"] == "1"
        too_big = client.post("/api/predict", content=big, headers={"content-type": "image/png"})
        assert too_big.status_code == 413 and "--max-image-bytes" in too_big.json()["detail"], too_big.text
        too_many = client.post("/api/predict", content=drawn_one(400), headers={"content-type": "image/png"})
        assert too_many.status_code == 422 and "160,000 pixels" in too_many.json()["detail"]
        assert "--max-pixels" in too_many.json()["detail"]
    slow = Limits(timeout_s=0.05)
    started = time.perf_counter()
    reader.read(big)
    reading_takes = time.perf_counter() - started
    with TestClient(create_app(reader, limits=slow), raise_server_exceptions=False) as client:
        started = time.perf_counter()
        late = client.post("/api/predict", content=big, headers={"content-type": "image/png"})
        answered_in = time.perf_counter() - started
    assert late.status_code == 503 and "--timeout" in late.json()["detail"], late.text
    assert answered_in < reading_takes / 2, (answered_in, reading_takes)  # the client did not wait for the work


def test_json_nested_100000_deep_is_a_400_naming_the_depth(reader):
    deep = b'{"image": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    brackets_in_a_string = json.dumps({"image": "[" * 1000, "note": "{" * 1000}).encode()
    with TestClient(create_app(reader), raise_server_exceptions=False) as client:
        answer = client.post("/api/predict", content=deep, headers={"content-type": "application/json"})
        assert answer.status_code == 400, answer.text
        assert "100,001 levels deep" in answer.json()["detail"] and str(MAX_JSON_DEPTH) in answer.json()["detail"]
        shallow = client.post("/api/predict", content=brackets_in_a_string, headers={"content-type": "application/json"})
        assert shallow.status_code == 400 and "base64" in shallow.json()["detail"], shallow.text  # not "deep"


def test_two_workers_count_every_request_in_one_scrape_and_log_each_as_json(reader, mnist, tmp_path):
    """`digitlab serve --workers 2` as an operator starts it: ready, 100 requests (MNIST's first
    1, 4 and 7 in turn) each answered with its own image's reading, /metrics before and after
    shows +100 summed over both workers, one JSON line per request, and the metrics directory
    gone after it stops."""
    # narrow digits, each read in one pass like a drawn one (a wide one is also tried cut in two)
    firsts = [int((mnist.test_labels == d).nonzero()[0, 0]) for d in (1, 4, 7)]
    three = [png_bytes(Image.fromarray(255 - mnist.test_images[k].numpy()).resize((84, 84))) for k in firsts]
    readings = [reader.read(image) for image in three]
    images, expected = [three[i % 3] for i in range(100)], [readings[i % 3] for i in range(100)]
    # each answer differs from the next one's: an answer given to another request would show
    assert all(a.number != b.number for a, b in zip(expected, expected[1:]))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "serve.log").open("w+")
    temp = tmp_path / "tmp"
    temp.mkdir()
    server = subprocess.Popen([sys.executable, "-m", "digitlab", "serve", "--model", str(reader.checkpoint.path),
                               "--port", str(port), "--workers", "2", "--log-format", "json"],
                              stdout=subprocess.PIPE, stderr=log, text=True,
                              env={**os.environ, "TMPDIR": str(temp), MULTIPROC_ENV: ""})
    try:
        deadline = time.time() + 120
        while time.time() < deadline and server.poll() is None:
            try:
                if _get(base + "/api/ready", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert _get(base + "/api/ready")[0] == 200, Path(log.name).read_text()
        while Path(log.name).read_text().count("model ready in") < 2 and time.time() < deadline:
            time.sleep(0.1)  # each worker logs it when it starts taking connections
        assert len(list(temp.glob("digitlab-metrics-*"))) == 1  # the workers' shared metrics directory
        before = request_count(_get(base + "/metrics")[1], "/api/predict", "200")

        def read_one(image):
            request = urllib.request.Request(base + "/api/predict", data=image, headers={"Content-Type": "image/png"})
            with urllib.request.urlopen(request, timeout=30) as r:
                return json.loads(r.read())["number"]

        with ThreadPoolExecutor(4) as pool:  # concurrent, so that both workers take some
            assert list(pool.map(read_one, images)) == [r.number for r in expected]  # no answer went astray
        after = request_count(_get(base + "/metrics")[1], "/api/predict", "200")
        assert after - before == 100, (before, after)
        metrics = _get(base + "/metrics")[1]
        assert re.search(r"^digitlab_model_load_seconds \d", metrics, re.M), metrics
        assert "digitlab_http_request_duration_seconds_bucket" in metrics
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=60)
    assert f"2 worker(s), {max(1, len(os.sched_getaffinity(0)) // 2)} thread(s) each" in out, out
    lines = [json.loads(line) for line in Path(log.name).read_text().splitlines() if line.startswith("{")]
    reads = [x for x in lines if x["logger"] == "digitlab.access" and x["route"] == "/api/predict"]
    assert len(reads) == 100 and all(x["status"] == 200 and x["ms"] > 0 for x in reads), reads[:3]
    assert sorted((x["digits"], x["rejected"]) for x in reads) == sorted((len(r.digits), r.rejected) for r in expected)
    assert len({x["pid"] for x in reads}) == 2  # both workers answered, and the scrape summed them
    assert not list(temp.glob("digitlab-metrics-*"))  # removed when the server stopped
