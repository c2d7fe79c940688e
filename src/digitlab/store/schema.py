"""The store's tables, and the schema version that lets a later digitlab migrate them.

`store_meta` holds one row, `schema_version`. Opening a store creates the tables when
there are none, runs the steps in MIGRATIONS from the version found up to
SCHEMA_VERSION, and refuses a store written by a newer digitlab rather than guess.
"""

from __future__ import annotations

from typing import Callable

from sqlalchemy import (CheckConstraint, Column, DateTime, Float, Integer, LargeBinary, MetaData, SmallInteger,
                        String, Table, Text)
from sqlalchemy.engine import Connection

SCHEMA_VERSION = 1

metadata = MetaData()

store_meta = Table(
    "store_meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

samples = Table(
    "samples", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("label", SmallInteger, CheckConstraint("label BETWEEN 0 AND 10", name="label_range"), nullable=False),
    Column("drawing", LargeBinary, nullable=False),  # the image as sent (PNG, JPEG, ...)
    Column("pixels", LargeBinary, nullable=False),  # the 28x28 uint8 input the model saw, row by row
    Column("reading", String(32)),  # what the model read (the digits, or NULL for no ink)
    Column("confidence", Float),  # its lowest digit confidence
    Column("rejected", SmallInteger, nullable=False, default=0),  # the model said "not a digit"
    Column("model", String(200)),  # which model read it
    Column("weights_sha256", String(64)),
)

# from-version -> the step that brings a store to from-version + 1
MIGRATIONS: dict[int, Callable[[Connection], None]] = {}
