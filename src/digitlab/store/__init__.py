"""The sample store: corrections people make on the page (a drawing and the label they
say is right), kept in SQLite (a file, the default) or PostgreSQL (by URL) through one
interface, and read back by `digitlab samples` and `digitlab finetune`."""

from .labels import LABEL_NAMES, NOT_A_DIGIT, label_name, parse_label
from .sample_store import Sample, SampleStore, StoreError, StoreFull, default_location, open_store, store_location

__all__ = ["LABEL_NAMES", "NOT_A_DIGIT", "Sample", "SampleStore", "StoreError", "StoreFull",
           "default_location", "label_name", "open_store",
           "parse_label", "store_location"]
