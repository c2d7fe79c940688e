"""Different images sent at once, to one process and to two workers: each answer is the one
its own image gets when sent alone (issue "Tests that prove what the docs claim").

Every image here gets an answer no other image gets (its number, and each digit with its
box: each digit is drawn at its own place on the canvas), so an answer handed to the wrong
request cannot pass. The last test runs the same check against a predictor that mixes up
concurrent requests, and the check catches it.
"""

import asyncio
import importlib.util
import json
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from conftest import png_bytes
from digitlab.data.numbers import numbers
from digitlab.recognition.predictor import Predictor
from digitlab.store import label_name, open_store
from digitlab.web.app import create_app

PNG = {"content-type": "image/png"}
DIGITS, NUMBERS = 32, 12  # candidates; at least 90% must be read right alone
CANVAS, SIDE, STEP = 160, 112, 4  # an MNIST digit 4x its size, placed 4 px further along for each image


@dataclass(frozen=True)
class Case:
    image: bytes  # PNG, dark ink on white
    truth: str  # what is drawn
    alone: tuple  # the answer it got sent alone (answer_of)


def live_server():
    """benchmarks/live_server.py (starts `digitlab serve` and waits for every worker), imported by path."""
    if "live_server" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "live_server", Path(__file__).resolve().parents[1] / "benchmarks" / "live_server.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["live_server"] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules["live_server"]


def drawn_digit(gray28: np.ndarray, k: int) -> bytes:
    """An MNIST digit (ink high) as dark ink on a white canvas, at the k-th place of a grid."""
    canvas = Image.new("L", (CANVAS, CANVAS), 255)
    digit = Image.fromarray(255 - gray28).resize((SIDE, SIDE))
    canvas.paste(digit, (STEP * (k % 8), STEP * (k // 8)))
    return png_bytes(canvas)


def candidates(mnist) -> list[tuple[bytes, str]]:
    """(PNG, truth): different MNIST test digits, each at its own place, and 2-3 digit numbers."""
    images, labels = mnist.test_images.numpy(), mnist.test_labels.numpy()
    picks = np.random.default_rng(0).choice(len(images), DIGITS, replace=False)
    out = [(drawn_digit(images[i], k), str(int(labels[i]))) for k, i in enumerate(picks)]
    made = numbers(NUMBERS, images, labels, seed=7, lengths=(2, 3), styles=("apart",), slant=5.0, thicken=0.0)
    out += [(png_bytes(Image.fromarray(255 - n.image)), n.text) for n in made]
    return out


def answer_of(status: int, body: dict | str) -> tuple:
    """What a reading says about its own image: the number, and each digit with its box
    (an error: its status and body)."""
    if status != 200:
        return "error", status, body
    return body["number"], tuple((d["digit"], tuple(d["box"])) for d in body["digits"])


def not_their_own(alone: list[tuple], answers: list[tuple]) -> list[str]:
    """Each answer that is not the one its own image got alone, one line each; empty when none."""
    return [f"request {i}: alone {want}, among others {got}"
            for i, (want, got) in enumerate(zip(alone, answers, strict=True)) if want != got]


async def _post(app, images: list[bytes], at_once: bool) -> list[tuple]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://digitlab.test") as client:
        if at_once:
            replies = await asyncio.gather(*(client.post("/api/predict", content=x, headers=PNG) for x in images))
        else:
            replies = [await client.post("/api/predict", content=x, headers=PNG) for x in images]
    return [answer_of(r.status_code, r.json() if r.status_code == 200 else r.text) for r in replies]


def read_in_process(app, images: list[bytes], at_once: bool) -> list[tuple]:
    """POST each image to the app's /api/predict in this process, one by one or all at once."""
    return asyncio.run(_post(app, images, at_once))


def post_png(url: str, image: bytes) -> tuple[int, dict | str]:
    """POST a PNG over HTTP: the status, and the JSON answer (an error's body as text)."""
    request = urllib.request.Request(url, data=image, headers=PNG)
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def post_over_http(base: str, image: bytes) -> tuple:
    return answer_of(*post_png(base + "/api/predict", image))


def logged_reads(log_path: str, expected: int, wait_s: float = 10, route: str = "/api/predict") -> list[dict]:
    """The lines of a JSON request log for `route`, once there are `expected` of them (a
    worker writes the line just after it sends the answer) or `wait_s` has passed."""
    deadline = time.time() + wait_s
    while True:
        lines = [json.loads(line) for line in Path(log_path).read_text().splitlines() if line.startswith("{")]
        reads = [x for x in lines if x["logger"] == "digitlab.access" and x["route"] == route]
        if len(reads) >= expected or time.time() > deadline:
            return reads
        time.sleep(0.05)


class Overlapping(Predictor):
    """The reader, noting the most reads that ran at the same time."""

    def __init__(self, predictor: Predictor):
        super().__init__(**{f.name: getattr(predictor, f.name) for f in fields(predictor)})
        self.lock, self.now, self.most = threading.Lock(), 0, 0
        self.two_at_once = threading.Event()

    def read(self, data: bytes, with_images: bool = False):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            if self.now >= 2:
                self.two_at_once.set()
        try:
            return self.read_now(data, with_images)
        finally:
            with self.lock:
                self.now -= 1

    def read_now(self, data: bytes, with_images: bool):
        return super().read(data, with_images)


class SwapsAnswers(Overlapping):
    """Broken on purpose: keeps the image in one attribute shared by all requests and reads
    whatever is there once another read has started (and a moment later), as a handler with
    shared state would."""

    armed = False  # off while the app warms the model up (one read at a time)

    def read(self, data: bytes, with_images: bool = False):
        self.last = data
        return super().read(data, with_images)

    def read_now(self, data: bytes, with_images: bool):
        if self.armed:
            self.two_at_once.wait(10)
            time.sleep(0.02)
        return Predictor.read(self, self.last, with_images)


@pytest.fixture(scope="module")
def cases(reader, mnist) -> list[Case]:
    """The candidates the reader reads right alone through /api/predict, with that answer;
    at least 90% of them, and no two answers alike."""
    made = candidates(mnist)
    alone = read_in_process(create_app(reader), [image for image, _ in made], at_once=False)
    kept, seen = [], set()
    for (image, truth), answer in zip(made, alone):
        if answer[0] == truth and answer not in seen:
            kept.append(Case(image, truth, answer))
            seen.add(answer)
    assert len(kept) >= 0.9 * len(made), [(t, a[0]) for (_, t), a in zip(made, alone)]
    return kept


def test_one_process_gives_each_of_many_different_images_read_at_once_its_own_answer(reader, cases):
    """All the images posted at once to one app (reads run in its threads, several at the
    same time): every answer is the one that image got alone."""
    counting = Overlapping(reader)
    answers = read_in_process(create_app(counting), [c.image for c in cases], at_once=True)
    swapped = not_their_own([c.alone for c in cases], answers)
    assert not swapped, f"{len(swapped)} of {len(answers)} answers differ:\n" + "\n".join(swapped[:5])
    assert counting.most >= 2, counting.most  # the reads did overlap: the test tested something


def store_over_http(base: str, item: tuple[bytes, str]) -> tuple[int, dict | str]:
    image, label = item
    return post_png(f"{base}/api/samples?label={urllib.parse.quote(label)}", image)


def test_two_workers_give_each_of_many_different_images_sent_at_once_its_own_answer(reader, cases, tmp_path):
    """`digitlab serve --workers 2` on 127.0.0.1, every image sent twice from 16 threads in a
    shuffled order: each answer is the one its image got alone from the same server (which is
    the one the reader gives in this process), and both worker processes answered (the JSON
    request log names each line's pid). Then every image is stored as a correction, again
    from 16 threads: both workers write to the one SQLite file at once, and the store holds
    every sample once, with its own label, drawing and reading."""
    store = tmp_path / "samples.db"
    try:
        server = live_server().start_server(
            str(reader.checkpoint.path), workers=2, wait_s=120,
            extra=("--host", "127.0.0.1", "--store", str(store), "--samples-per-minute", "10000",
                   "--log-format", "json"))
    except SystemExit as e:  # how live_server reports a server that stopped or never got ready
        pytest.fail(str(e))
    try:
        post = partial(post_over_http, server.base)
        alone = [post(c.image) for c in cases]
        order = np.random.default_rng(1).permutation(2 * len(cases)) % len(cases)
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(post, [cases[i].image for i in order]))
        reads = logged_reads(server.log_path, 3 * len(cases))
        corrections = [(cases[i].image, "not a digit" if k % 11 == 0 else str(k % 10)) for k, i in enumerate(order)]
        with ThreadPoolExecutor(16) as pool:
            stored = list(pool.map(partial(store_over_http, server.base), corrections))
        writes = logged_reads(server.log_path, len(corrections), route="/api/samples")
    finally:
        server.stop()
    assert alone == [c.alone for c in cases]
    swapped = not_their_own([alone[i] for i in order], answers)
    assert not swapped, f"{len(swapped)} of {len(answers)} answers differ:\n" + "\n".join(swapped[:5])
    assert len(reads) == 3 * len(cases) and {x["status"] for x in reads} == {200}
    assert len({x["pid"] for x in reads}) == 2, reads[-5:]

    assert [status for status, _ in stored] == [201] * len(corrections), [b for s, b in stored if s != 201][:3]
    assert len({x["pid"] for x in writes}) == 2, writes[-5:]  # both workers wrote
    with open_store(store, create=False) as back:
        samples = {s.id: s for s in back.samples()}
    assert sorted(samples) == sorted(body["id"] for _, body in stored)  # each once, none lost
    for (image, label), (_, body), i in zip(corrections, stored, order):
        sample = samples[body["id"]]
        assert (sample.drawing, label_name(sample.label), body["label"]) == (image, label, label)
        assert sample.reading == body["reading"] == alone[i][0]  # read as that image alone reads


def test_the_check_catches_answers_swapped_between_concurrent_requests(reader, cases):
    """The check above, against a predictor that hands a request the image of another one
    read at the same time: it reports the swapped answers (so it is not a check that cannot fail)."""
    broken = SwapsAnswers(reader)
    app = create_app(broken)
    broken.armed = True
    answers = read_in_process(app, [c.image for c in cases], at_once=True)
    swapped = not_their_own([c.alone for c in cases], answers)
    assert swapped, "the check missed answers swapped between requests"
    assert all(a in {c.alone for c in cases} for a in answers)  # every answer was some image's own answer


def test_a_flood_of_requests_past_the_timeout_keeps_threads_and_memory_bounded(reader, monkeypatch):
    """Readings that outlive --timeout cannot be stopped, so they must not pile up: at most
    READING_THREADS run at once, and one still queued when its request times out never runs
    and lets its image go."""
    import gc

    from conftest import serve_in_thread
    from digitlab.web import bounded_read
    from digitlab.web.limits import Limits
    from digitlab.web.model_slot import warm_up_image

    started, release = [], threading.Event()

    def stuck_read(data, detail=False):
        started.append(1)
        release.wait(120)  # a reading stuck far past the timeout
        return real_read(data, detail)

    app = create_app(reader, limits=Limits(timeout_s=0.3))  # warmed up before its readings get stuck
    real_read = reader.read
    monkeypatch.setattr(reader, "read", stuck_read)
    image = warm_up_image()
    with serve_in_thread(app) as url:
        try:
            with ThreadPoolExecutor(32) as pool:
                codes = list(pool.map(lambda _: httpx.post(f"{url}/api/predict", content=image, headers=PNG,
                                                           timeout=30).status_code, range(96)))
            readers = [t for t in threading.enumerate() if t.name.startswith("digitlab-read")]
            # the pool's entries still queued: each a cancelled reading whose image was let go
            queued = [o for o in gc.get_objects() if type(o).__name__ == "_WorkItem"
                      and o.fn is bounded_read._checked and o.future.cancelled()]
            assert codes == [503] * 96
            assert len(started) == bounded_read.READING_THREADS  # the rest timed out in the queue and never ran
            assert len(readers) == bounded_read.READING_THREADS
            assert queued and all(item.args[1] == [] for item in queued)  # no image kept
        finally:
            release.set()
            monkeypatch.setattr(reader, "read", real_read)
        deadline = time.time() + 20
        while httpx.post(f"{url}/api/predict", content=image, headers=PNG).status_code != 200 and time.time() < deadline:
            time.sleep(0.1)
        assert httpx.post(f"{url}/api/predict", content=image, headers=PNG).json()["number"] == real_read(image).number
