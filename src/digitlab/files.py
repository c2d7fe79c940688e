"""Atomic writes: a file or directory appears whole or not at all, and what was
saved before survives any failure."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import DigitlabError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    tmp.chmod(0o666 & ~_umask())  # mkstemp makes it private; the result is an ordinary file
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(path: str | Path, obj) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def read_json(path: Path, what: str, owner: str):
    """The JSON in `path`, `owner`'s `what`, with errors a user can act on: missing or corrupt."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DigitlabError(f"{path.parent} is not {what}: it has no {path.name}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DigitlabError(f"{owner} {path.parent} is corrupt: {path.name} is not valid JSON ({e})") from None


_RENAME_EXCHANGE, _AT_FDCWD = 2, -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one step (Linux renameat2 RENAME_EXCHANGE): no moment
    where neither is there. False where the system or its file system cannot."""
    import ctypes
    import errno

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary directory; on success it takes the place of `path`.

    An existing `path` is swapped with the new one in one step where the system can
    (Linux), so a process killed at any moment leaves either the old directory or the new
    one at `path`. Elsewhere it is moved aside first and deleted only once the new one is
    in place: a failure at any point leaves the old contents recoverable.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    tmp.chmod(0o777 & ~_umask())
    try:
        yield tmp
        old = None
        if path.is_dir() and not path.is_symlink() and _exchange(tmp, path):
            return  # tmp now holds the old directory; `finally` deletes it
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def check_writable_target(path: str | Path, what: str) -> None:
    """Fail early, with a clear message, where `path` could not be created: its nearest
    existing ancestor is a file, or refuses a new entry. Leaves nothing behind."""
    path = Path(path).absolute()
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise DigitlabError(f"cannot write {what} to {path}: {ancestor} is a file, not a directory")
    try:
        Path(tempfile.mkdtemp(prefix=".probe.", dir=ancestor)).rmdir()
    except OSError as e:
        raise DigitlabError(f"cannot write {what} to {path}: {ancestor} is not writable ({e.strerror or e})") from None


def check_output_dir(path: str | Path, what: str, marker: str) -> Path:
    """Check, before any work, that `path` can become the output directory for `what`.

    Output directories are replaced whole, so an existing one must be empty or an
    earlier output of the same kind (it holds the file `marker`); anything else could
    be a user's own files and is refused."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise DigitlabError(f"cannot write {what} to {path}: it is a file, not a directory")
    if path.is_dir() and any(path.iterdir()) and not (path / marker).is_file():
        raise DigitlabError(f"cannot write {what} to {path}: it holds other files; give a new or empty "
                            f"directory (an earlier {what} there is replaced)")
    check_writable_target(path, what)
    return path
