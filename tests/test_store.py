"""The sample store on SQLite and on a real PostgreSQL server: store, read back, export,
stats, four writer processes at once; the API and CLI on bad input and a broken store."""

import csv
import multiprocessing
import uuid
from datetime import datetime, timezone

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import create_engine, update

from conftest import assert_clean_error, free_port, png_bytes, run_cli
from digitlab.cli import main
from digitlab.data.idx import read_idx
from digitlab.store import NOT_A_DIGIT, Sample, SampleStore, StoreError, open_store
from digitlab.store.schema import SCHEMA_VERSION, store_meta
from digitlab.web.app import MAX_IMAGE_BYTES, create_app
from postgres import create_database
from store_writers import write_samples


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "new-dir" / "samples.db")
    return create_database(request.getfixturevalue("postgres_url"), f"t_{uuid.uuid4().hex[:10]}")


def _sample(mnist, k: int, label: int | None = None) -> Sample:
    pixels = mnist.train_images[k].numpy()
    drawing = png_bytes(Image.fromarray(255 - pixels).resize((112, 112)))
    return Sample(label=int(mnist.train_labels[k]) if label is None else label, drawing=drawing, pixels=pixels,
                  reading=str(k % 10), confidence=0.5 + k / 100, model="digitlab-cnn", weights_sha256="ab" * 32)


def test_store_reads_back_exports_and_counts(location, mnist, tmp_path, capsys):
    made = [_sample(mnist, k) for k in range(12)] + [_sample(mnist, 12, NOT_A_DIGIT)]
    with open_store(location) as store:
        assert store.schema_version() == SCHEMA_VERSION
        started = datetime.now(timezone.utc)
        ids = [store.add(s) for s in made]
        ended = datetime.now(timezone.utc)
    assert ids == sorted(ids) and len(set(ids)) == len(made)
    with open_store(location, create=False) as store:  # a new connection: it was really written
        back, stats = store.samples(), store.stats()
    assert [s.id for s in back] == ids
    for got, want in zip(back, made):
        assert (got.label, got.drawing, got.reading, got.model, got.weights_sha256) == \
               (want.label, want.drawing, want.reading, want.model, want.weights_sha256)
        assert np.array_equal(got.pixels, want.pixels) and got.confidence == pytest.approx(want.confidence)
        # stored as UTC; SQLite keeps no time zone, so its times come back naive
        created = got.created if got.created.tzinfo else got.created.replace(tzinfo=timezone.utc)
        assert started <= created <= ended, (started, got.created, ended)
    expected = {str(d): sum(s.label == d for s in made) for d in range(10)} | {"not a digit": 1}
    assert stats == expected and sum(stats.values()) == 13

    assert main(["samples", "stats", "--store", location, "--json"]) == 0
    assert '"total": 13' in capsys.readouterr().out
    assert main(["samples", "export", "--store", location, "--out", str(tmp_path / "png")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "png" / "samples.csv")))
    assert [int(r["id"]) for r in rows] == ids and rows[-1]["label_name"] == "not a digit"
    for row, want in zip(rows, made):
        assert np.array_equal(np.asarray(Image.open(tmp_path / "png" / row["file"])), want.pixels)
        assert (tmp_path / "png" / row["drawing"]).read_bytes() == want.drawing
    assert main(["samples", "export", "--store", location, "--out", str(tmp_path / "idx"), "--format", "idx"]) == 0
    assert np.array_equal(read_idx(tmp_path / "idx" / "samples-images-idx3-ubyte"), np.stack([s.pixels for s in made]))
    assert read_idx(tmp_path / "idx" / "samples-labels-idx1-ubyte").tolist() == [s.label for s in made]
    # an export only replaces an earlier one: someone's own directory is refused before any work
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    assert main(["samples", "export", "--store", location, "--out", str(tmp_path / "mine")]) == 2
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_four_processes_writing_at_once_lose_nothing(location):
    """Four writers start together on a store none of them has made yet (the schema races too)."""
    spawn = multiprocessing.get_context("spawn")
    start = spawn.Barrier(4)
    writers = [spawn.Process(target=write_samples, args=(location, w, 40, start)) for w in range(4)]
    for p in writers:
        p.start()
    for p in writers:
        p.join(60)
    assert [p.exitcode for p in writers] == [0, 0, 0, 0]
    with open_store(location, create=False) as store:
        got = store.samples()
    assert len(got) == 160 and len({s.id for s in got}) == 160
    assert sorted(s.drawing for s in got) == sorted(f"{w}-{k}".encode() for w in range(4) for k in range(40))
    assert all(s.pixels[0, 0] == int(s.drawing.split(b"-")[0]) for s in got)


def test_a_store_from_a_newer_digitlab_is_refused(tmp_path):
    path = tmp_path / "samples.db"
    open_store(path).close()
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(update(store_meta).values(value="99"))
    engine.dispose()
    with pytest.raises(StoreError, match="schema version 99"):
        open_store(path)


@pytest.fixture(scope="module")
def drawn_seven(mnist):
    return png_bytes(Image.fromarray(255 - mnist.test_images[0].numpy()).resize((140, 140)))


def test_the_api_stores_corrections_and_refuses_bad_input_keeping_what_was_stored(reader, postgres_url,
                                                                                   drawn_seven):
    url = create_database(postgres_url, f"t_{uuid.uuid4().hex[:10]}")
    store = open_store(url)
    with TestClient(create_app(reader, store=store), raise_server_exceptions=False) as client:
        assert client.get("/api/samples/stats").json()["total"] == 0
        ok = client.post("/api/samples?label=9", content=drawn_seven, headers={"content-type": "image/png"})
        assert ok.status_code == 201, ok.text
        assert ok.json()["label"] == "9" and ok.json()["reading"] == "7" and ok.json()["total"] == 1
        form = client.post("/api/samples", params={"label": "not a digit"},
                           files={"image": ("x.png", drawn_seven, "image/png")})
        assert form.status_code == 201 and form.json()["label"] == "not a digit", form.text
        for kwargs, status, fragment in [
            (dict(params={"label": "seven"}, content=drawn_seven), 422, "unknown label"),
            (dict(params={"label": "12"}, content=drawn_seven), 422, "unknown label"),
            (dict(content=drawn_seven), 422, "label"),
            (dict(params={"label": "1"}, content=b"\0" * (MAX_IMAGE_BYTES + 1)), 413, "--max-image-bytes"),
            (dict(params={"label": "1"}, content=png_bytes(Image.new("L", (64, 64), 255))), 422, "blank"),
            (dict(params={"label": "1"}, content=b"not an image"), 422, "not a readable image"),
        ]:
            response = client.post("/api/samples", headers={"content-type": "image/png"}, **kwargs)
            assert response.status_code == status and fragment in response.json()["detail"], response.text
        with store.engine.begin() as conn:  # the database turns read-only: a write is refused, reads go on
            conn.exec_driver_sql(f'ALTER DATABASE "{url.rsplit("/", 1)[1]}" SET default_transaction_read_only = on')
        store.engine.dispose()
        refused = client.post("/api/samples?label=3", content=drawn_seven, headers={"content-type": "image/png"})
        assert refused.status_code == 503 and "read-only" in refused.json()["detail"], refused.text
        stats = client.get("/api/samples/stats").json()
        assert stats["total"] == 2 and stats["labels"]["9"] == 1 and stats["labels"]["not a digit"] == 1
    stored = store.samples()
    assert [s.label for s in stored] == [9, NOT_A_DIGIT] and stored[0].reading == "7"
    assert stored[0].weights_sha256 == reader.weights_sha256 and stored[0].pixels.shape == (28, 28)
    store.close()

    down = SampleStore(create_engine(f"postgresql+psycopg://digitlab@127.0.0.1:{free_port()}/gone",
                                     connect_args={"connect_timeout": 2}), "postgresql://127.0.0.1/gone")
    with TestClient(create_app(reader, store=down), raise_server_exceptions=False) as client:
        response = client.post("/api/samples?label=3", content=drawn_seven, headers={"content-type": "image/png"})
        assert response.status_code == 503 and "cannot write to the sample store" in response.json()["detail"]
        assert client.get("/api/samples/stats").status_code == 503
    with TestClient(create_app(reader), raise_server_exceptions=False) as client:  # serve --no-store
        assert client.get("/api/samples/stats").json()["enabled"] is False
        assert client.post("/api/samples?label=3", content=drawn_seven,
                           headers={"content-type": "image/png"}).status_code == 404


def test_the_cli_names_a_store_it_cannot_use(tmp_path):
    assert_clean_error(run_cli("samples", "stats", "--store", f"postgresql://digitlab@127.0.0.1:{free_port()}/x"),
                       "cannot open the sample store postgresql", "127.0.0.1")
    (tmp_path / "a-file").write_text("x")
    assert main(["samples", "list", "--store", str(tmp_path / "missing.db")]) == 2
    with pytest.raises(StoreError, match="a-file is a file, not a directory"):
        open_store(tmp_path / "a-file" / "samples.db")


def test_a_corrupt_file_and_a_malformed_row_are_named_and_nothing_is_changed(mnist, tmp_path, capsys):
    """A file that is not a database, one cut short, and a row another program wrote wrong:
    each is a one-line error naming the store (and the row), never a traceback, and the file
    is left as it was for its owner to look at."""
    def refused(store, *fragments, command=("samples", "list")):
        assert main([*command, "--store", str(store)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("digitlab: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
        for fragment in fragments:
            assert fragment in err, (fragment, err)

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"these are not the bytes of a database\n" * 200)
    before = garbage.read_bytes()
    with pytest.raises(StoreError, match="cannot open the sample store .*garbage.db: file is not a database"):
        open_store(garbage)
    refused(garbage, str(garbage), "not a database")
    assert garbage.read_bytes() == before

    good = tmp_path / "good.db"
    with open_store(good) as store:
        for k in range(300):
            store.add(_sample(mnist, k))
    cut = tmp_path / "cut.db"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # a copy interrupted half-way
    refused(cut, str(cut), "malformed")

    engine = create_engine(f"sqlite:///{good}")
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE samples SET pixels = x'00ff' WHERE id = 7")
    engine.dispose()
    with pytest.raises(StoreError, match="sample 7 in .*good.db is malformed"):
        open_store(good).samples()
    refused(good, "sample 7", "malformed")
    refused(good, "sample 7", command=("samples", "export", "--out", str(tmp_path / "export")))
    assert not (tmp_path / "export").exists()  # nothing half-exported
    assert main(["samples", "stats", "--store", str(good), "--json"]) == 0  # counting needs no pixels
    assert '"total": 300' in capsys.readouterr().out
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE samples SET pixels = (SELECT pixels FROM samples WHERE id = 1) WHERE id = 7")
        conn.exec_driver_sql("UPDATE samples SET created = 'the day before yesterday' WHERE id = 9")
    engine.dispose()
    with pytest.raises(StoreError, match="good.db has a malformed row"):
        open_store(good).samples()
