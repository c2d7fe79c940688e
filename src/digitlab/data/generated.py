"""Generated examples kept between runs in the data directory (DIGITLAB_DATA, by default
~/.cache/digitlab/generated), one file per set: what was drawn once for a seed is read back
the next time instead of drawn again (a second `make run` on a new clone, a judge trained
again).

A set's key holds everything that decides its contents: the caller's arguments, a SHA-256
of the digits it was drawn from, and a SHA-256 of the source of the modules that draw it,
so a change to the drawing code draws again. Files are NumPy .npz, read without pickle, and
written atomically; one that cannot be read is drawn again.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import zipfile
from types import ModuleType
from typing import Callable

import numpy as np

from ..files import atomic_path
from .mnist import data_dir


def generated_dir():
    return data_dir() / "generated"


def digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def cached(name: str, key: dict, modules: list[ModuleType], make: Callable[[], dict[str, np.ndarray]]
           ) -> dict[str, np.ndarray]:
    """The arrays `make` returns for `key`, from the cache when they were made before."""
    code = hashlib.sha256("".join(inspect.getsource(m) for m in modules).encode()).hexdigest()
    tag = hashlib.sha256(json.dumps({**key, "code": code}, sort_keys=True).encode()).hexdigest()[:20]
    path = generated_dir() / f"{name}-{tag}.npz"
    try:
        with np.load(path, allow_pickle=False) as found:
            return {k: found[k] for k in found.files}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        pass
    arrays = make()
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as out:
            np.savez_compressed(out, **arrays)
    except OSError:  # a read-only or full data directory: drawn again next time
        pass
    return arrays
