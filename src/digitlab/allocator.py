"""An allocator setting for training on the CPU: keep freed memory in the process.

glibc's malloc serves large blocks with mmap and hands them back to the kernel when they
are freed, and trims the heap's free top the same way. A training step frees and
reallocates the same activation and gradient buffers every time, so each step faults
them in again, page by page. Raising the mmap threshold to 32 MiB and the trim threshold
to 1 GiB keeps those pages: an epoch of `report-cnn-final` on 10,000 images went from
about 757,000 page faults to 62,000, and the CNN recipes train 17-22% faster
(benchmarks/keep_memory.py, docs/performance.md). The setting
is process-wide; `training.train` turns it on for its own process when it trains on the
CPU (a training process holds on to its memory anyway), `digitlab bench --keep-memory`
for every row of the bench. The environment variables
MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1073741824 do the same for any process.
"""

from __future__ import annotations

import ctypes

# mallopt(3) parameter numbers, from glibc's malloc.h
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest allowed value on 64-bit machines
TRIM_THRESHOLD = 1024 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Apply the setting to this process; False where the C library has no mallopt (not glibc)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
