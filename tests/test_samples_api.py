"""POST /api/samples takes labels exactly as the page shows them, and one client can neither
flood the store nor fill the disk: a rate per client, a size per drawing, a size of store."""

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from conftest import png_bytes
from digitlab.store import NOT_A_DIGIT, open_store
from digitlab.web.app import create_app
from digitlab.web.limits import Limits
from digitlab.web.sample_quota import ClientQuota

PNG = {"content-type": "image/png"}


@pytest.fixture(scope="module")
def drawn(mnist):
    """Three test digits at page size, dark on white."""
    return [png_bytes(Image.fromarray(255 - mnist.test_images[k].numpy()).resize((140, 140))) for k in range(3)]


def test_labels_are_taken_exactly_as_the_page_shows_them(reader, drawn, tmp_path):
    store = open_store(tmp_path / "samples.db")
    with TestClient(create_app(reader, store=store)) as client:
        for label in ["0", "7", "9", "not a digit"]:
            response = client.post("/api/samples", params={"label": label}, content=drawn[0], headers=PNG)
            assert response.status_code == 201 and response.json()["label"] == label, response.text
        # "10" was stored as "not a digit", "७" (Devanagari seven) as "7": a label the person
        # did not choose would teach finetune the wrong thing
        for label in ["10", "७", "٣", "²", " 7", "7 ", "07", "-1", "none", "not-a-digit", "Not a digit", "", "seven"]:
            response = client.post("/api/samples", params={"label": label}, content=drawn[0], headers=PNG)
            assert response.status_code == 422 and "unknown label" in response.json()["detail"], (label, response.text)
    assert [s.label for s in store.samples()] == [0, 7, 9, NOT_A_DIGIT]
    store.close()


def test_one_client_posting_in_a_loop_stores_its_quota_and_gets_429_after(reader, drawn, tmp_path):
    store = open_store(tmp_path / "samples.db")
    per_minute = Limits().samples_per_minute
    with TestClient(create_app(reader, store=store)) as client, \
            TestClient(create_app(reader, store=store), client=("10.0.0.2", 5000)) as other:
        codes = [client.post("/api/samples?label=7", content=drawn[k % 3], headers=PNG).status_code
                 for k in range(2 * per_minute)]
        assert codes == [201] * per_minute + [429] * per_minute
        refused = client.post("/api/samples?label=7", content=drawn[0], headers=PNG)
        assert "--samples-per-minute" in refused.json()["detail"] and 1 <= int(refused.headers["retry-after"]) <= 2
        assert other.post("/api/samples?label=2", content=drawn[1], headers=PNG).status_code == 201  # another client
    assert store.count() == per_minute + 1
    store.close()


def test_a_bucket_refills_with_time_and_the_table_of_clients_stays_bounded(monkeypatch):
    now = [0.0]
    quota = ClientQuota(6, clock=lambda: now[0])  # one token back every 10 s
    assert [quota.take("a") for _ in range(6)] == [0.0] * 6
    assert quota.take("a") == pytest.approx(10.0)
    now[0] = 25.0  # two tokens back (and the refused take above cost nothing)
    assert [quota.take("a") > 0 for _ in range(3)] == [False, False, True]
    monkeypatch.setattr("digitlab.web.sample_quota.MAX_CLIENTS", 100)
    for k in range(1000):
        quota.take(f"client-{k}")
    assert len(quota._buckets) == 100 and "client-999" in quota._buckets and "a" not in quota._buckets


def test_the_store_and_each_drawing_have_a_size_cap_that_keeps_what_was_stored(reader, drawn, tmp_path):
    store = open_store(tmp_path / "samples.db")
    big = png_bytes(Image.effect_noise((300, 300), 60).convert("L"))  # noise does not compress
    limits = Limits(max_samples=2, max_sample_bytes=len(big) - 1)
    with TestClient(create_app(reader, store=store, limits=limits)) as client:
        response = client.post("/api/samples?label=3", content=big, headers=PNG)
        assert response.status_code == 413 and "--max-sample-bytes" in response.json()["detail"], response.text
        assert [client.post("/api/samples?label=3", content=d, headers=PNG).status_code for d in drawn] == [201, 201, 507]
        assert "--max-samples" in client.post("/api/samples?label=3", content=drawn[0], headers=PNG).json()["detail"]
    assert store.count() == 2
    store.close()
