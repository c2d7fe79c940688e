"""One interface over SQLite and PostgreSQL, through SQLAlchemy 2.

A location is a file path (SQLite; the default) or a `postgresql://` URL (PostgreSQL,
through psycopg 3). SQLite runs in WAL mode with a busy timeout, so the worker
processes of `serve --workers N` can all write: a writer waits its turn instead of
failing. Every failure to reach, open or write the store is a StoreError naming the
store (password hidden) and the database's own reason; the web layer answers 503.
A sample is written in one transaction, so a failed write leaves the others as they were.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import numpy as np
from sqlalchemy import create_engine, event, func, inspect, insert, select, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError, SQLAlchemyError

from ..errors import DigitlabError
from ..files import check_writable_target
from .labels import LABEL_NAMES
from .schema import MIGRATIONS, SCHEMA_VERSION, metadata, samples, store_meta

POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")
SQLITE_BUSY_S = 30  # how long a SQLite writer waits for another one before giving up
CONNECT_TIMEOUT_S = 5  # a PostgreSQL server that does not answer: say so rather than hang


class StoreError(DigitlabError):
    """The sample store cannot be reached, opened or written (the web API answers 503)."""


class StoreFull(StoreError):
    """The store holds as many samples as it may (the web API answers 507)."""


@dataclass(frozen=True)
class Sample:
    label: int  # 0-9, or labels.NOT_A_DIGIT
    drawing: bytes  # the image as sent
    pixels: np.ndarray = field(repr=False)  # uint8 28 x 28, the input the model saw
    reading: str | None = None
    confidence: float | None = None
    rejected: bool = False
    model: str | None = None
    weights_sha256: str | None = None
    id: int | None = None
    created: datetime | None = None


STORE_FILE = "samples.db"


def default_location(model: str | Path) -> Path:
    """Where a served model's corrections go by default: beside its run (runs/default/best ->
    runs/default/samples.db), or inside an ensemble's directory."""
    model = Path(model)
    return (model if (model / "ensemble.json").is_file() else model.parent) / STORE_FILE


def store_url(location: str | Path) -> str:
    """The SQLAlchemy URL of a location: a PostgreSQL URL (driven by psycopg 3) or a SQLite file."""
    text = str(location)
    for scheme in POSTGRES_SCHEMES:
        if text.startswith(scheme):
            return "postgresql+psycopg://" + text[len(scheme):]
    if text.startswith("sqlite:///"):
        return text
    return f"sqlite:///{Path(text).expanduser().absolute()}"


def store_location(location: str | Path) -> str:
    """The location as it may be shown: a URL without its password, or the file's path."""
    url = store_url(location)
    if url.startswith("sqlite:///"):
        return url[len("sqlite:///"):]
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(an unreadable URL)"


def _reason(e: Exception) -> str:
    orig = getattr(e, "orig", None) or e
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]


def _count(conn) -> int:
    return int(conn.execute(select(func.count()).select_from(samples)).scalar_one())


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_S * 1000}")
    cursor.execute("PRAGMA journal_mode = WAL")  # readers never block the writer, nor it them
    cursor.execute("PRAGMA synchronous = NORMAL")  # durable in WAL mode except on power loss
    cursor.close()


class SampleStore:
    def __init__(self, engine: Engine, location: str):
        self.engine = engine
        self.location = location

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        try:
            yield
        except StoreError:
            raise
        except (SQLAlchemyError, OSError) as e:
            raise StoreError(f"cannot {action} the sample store {self.location}: {_reason(e)}") from None

    def add(self, sample: Sample, limit: int | None = None) -> int:
        """Store a sample in its own transaction; returns its id. With `limit`, a store that
        holds that many samples already refuses it (StoreFull); two writers at the same
        moment may each add the last one."""
        pixels = np.ascontiguousarray(sample.pixels, dtype=np.uint8)
        if pixels.shape != (28, 28):
            raise ValueError(f"a sample's pixels are 28 x 28, not {pixels.shape}")
        row = dict(created=sample.created or datetime.now(timezone.utc), label=int(sample.label),
                   drawing=sample.drawing, pixels=pixels.tobytes(), reading=sample.reading,
                   confidence=sample.confidence, rejected=int(sample.rejected), model=sample.model,
                   weights_sha256=sample.weights_sha256)
        with self._guard("write to"), self.engine.begin() as conn:
            if limit is not None and _count(conn) >= limit:
                raise StoreFull(f"the sample store {self.location} holds {limit:,} samples already")
            return int(conn.execute(insert(samples).values(**row).returning(samples.c.id)).scalar_one())

    def stats(self) -> dict[str, int]:
        """Samples per label name ("0".."9", "not a digit"), every label present, in order."""
        with self._guard("read"), self.engine.connect() as conn:
            counts = dict(conn.execute(select(samples.c.label, func.count()).group_by(samples.c.label)).all())
        return {name: int(counts.get(k, 0)) for k, name in enumerate(LABEL_NAMES)}

    def count(self) -> int:
        with self._guard("read"), self.engine.connect() as conn:
            return _count(conn)

    def samples(self, limit: int | None = None) -> list[Sample]:
        """The samples in the order they were stored (the first `limit` of them)."""
        query = select(samples).order_by(samples.c.id)
        if limit is not None:
            query = query.limit(limit)
        with self._guard("read"), self.engine.connect() as conn:
            try:
                rows = conn.execute(query).mappings().all()
            except (ValueError, TypeError) as e:  # a value the column's type cannot take (SQLite keeps any)
                raise StoreError(f"the sample store {self.location} has a malformed row ({e}); find it with "
                                 "the database's own tools, then fix or delete it") from None
        return [self._sample(r) for r in rows]

    def _sample(self, r) -> Sample:
        pixels = r["pixels"]
        if not isinstance(pixels, (bytes, memoryview)) or len(pixels) != 28 * 28 or \
                not isinstance(r["drawing"], (bytes, memoryview)):
            raise StoreError(f"sample {r['id']} in {self.location} is malformed: its pixels are not 784 bytes "
                             "(28 x 28) or its drawing is not an image; fix or delete that row")
        return Sample(label=r["label"], drawing=bytes(r["drawing"]),
                      pixels=np.frombuffer(bytes(pixels), np.uint8).reshape(28, 28), reading=r["reading"],
                      confidence=r["confidence"], rejected=bool(r["rejected"]), model=r["model"],
                      weights_sha256=r["weights_sha256"], id=r["id"], created=r["created"])

    def schema_version(self) -> int:
        with self._guard("read"), self.engine.connect() as conn:
            return int(conn.execute(select(store_meta.c.value).where(store_meta.c.key == "schema_version"))
                       .scalar_one())

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "SampleStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _migrate(conn) -> None:
    """Create the tables if there are none; bring an older schema up to SCHEMA_VERSION."""
    metadata.create_all(conn, checkfirst=True)
    where = store_meta.c.key == "schema_version"
    found = conn.execute(select(store_meta.c.value).where(where)).scalar()
    if found is None:
        conn.execute(insert(store_meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
        return
    version = int(found)
    if version > SCHEMA_VERSION:
        raise StoreError(f"the sample store has schema version {version}; this digitlab knows up to "
                         f"{SCHEMA_VERSION}: use a newer digitlab")
    while version < SCHEMA_VERSION:
        MIGRATIONS[version](conn)
        version += 1
        conn.execute(update(store_meta).where(where).values(value=str(version)))


def open_store(location: str | Path, create: bool = True) -> SampleStore:
    """Open (and with `create`, make) the store at a path or a PostgreSQL URL, its schema
    created or migrated. Without `create`, a store that does not exist is an error."""
    url, shown = store_url(location), store_location(location)
    sqlite = url.startswith("sqlite:///")
    if sqlite:
        path = Path(shown)
        if not create and not path.is_file():
            raise StoreError(f"no sample store at {path} (the page's corrections go there once `digitlab serve` "
                             "has stored one; --store names another)")
        if path.is_dir():
            raise StoreError(f"the sample store {path} is a directory; give a file path (e.g. {path}/samples.db)")
        try:
            if create and not path.exists():
                check_writable_target(path, "the sample store")  # a file in the way, a read-only directory
            path.parent.mkdir(parents=True, exist_ok=True)
        except DigitlabError as e:
            raise StoreError(str(e)) from None
        except OSError as e:
            raise StoreError(f"cannot create the sample store {path}: {e.strerror or e}") from None
    try:
        engine = create_engine(url, pool_pre_ping=True,
                               connect_args={"timeout": SQLITE_BUSY_S} if sqlite
                               else {"connect_timeout": CONNECT_TIMEOUT_S})
    except (ArgumentError, NoSuchModuleError, ImportError) as e:
        raise StoreError(f"cannot use the sample store {shown}: {_reason(e)}") from None
    if sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
    store = SampleStore(engine, shown)
    try:
        with store._guard("open"):
            if not create and not inspect(engine).has_table("samples"):
                raise StoreError(f"{shown} holds no digitlab samples (no 'samples' table)")
            for attempt in range(5):
                try:
                    with engine.begin() as conn:
                        _migrate(conn)
                    break
                except (IntegrityError, DBAPIError) as e:  # another process created the tables first
                    if attempt == 4 or not ("exist" in _reason(e) or isinstance(e, IntegrityError)):
                        raise
                    time.sleep(0.05 * (attempt + 1))
    except BaseException:
        engine.dispose()
        raise
    return store
