"""Running the service: one process, or N worker processes on one port (workers.py).

A loaded Predictor cannot be handed to worker processes, so every process builds
its own app with `app_from_env`, from settings the parent puts in an environment
variable, and loads the model itself (in the background: model_slot.py). Each
worker gets cores // N PyTorch threads, so N workers do not fight over the cores.
With N > 1, prometheus-client's multiprocess mode needs a directory for the
workers' values: the parent makes a fresh one and removes it when it stops.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

from fastapi import FastAPI

from .access_log import log_config
from .limits import Limits
from .metrics import MULTIPROC_ENV
from .workers import run_workers

SETTINGS_ENV = "DIGITLAB_SERVE_SETTINGS"


@dataclass(frozen=True)
class ServeConfig:
    models: tuple[str, ...]  # checkpoint or ensemble directories; the first is the default
    device: str | None = None
    runtime: str = "torch"
    lines: str | None = "auto"  # each model's line reader: "auto" (its run's own), a directory, or None
    groups: str | None = "auto"  # each model's group judge: the same choices
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    threads: int | None = None  # PyTorch intra-op threads per worker; None: cores // workers
    log_format: str = "text"
    store: str | None = None  # the sample store's path or URL; None: --no-store
    limits: Limits = field(default_factory=Limits)
    standin: str | None = None  # served for the first model while its checkpoint is missing or worse (live.py)
    watch: float = 2.0  # seconds between checks for a new checkpoint of each model; 0: never

    @classmethod
    def from_json(cls, text: str) -> "ServeConfig":
        settings = json.loads(text)
        return cls(**{**settings, "models": tuple(settings["models"]), "limits": Limits(**settings["limits"])})

    @property
    def threads_per_worker(self) -> int:
        return self.threads or max(1, len(os.sched_getaffinity(0)) // self.workers)


def return_large_blocks_to_the_system() -> None:
    """Keep blocks over 128 KB in their own memory maps, given back when freed.

    glibc raises its mmap threshold each time a large block is freed (up to 32 MB), so
    after the first large images the arrays of a 4096x4096 one come from the heap
    arenas instead, where freed memory mostly stays resident: a long-running worker's
    RSS then steps up with every burst of large images (+103 MB over a 30,000-request
    soak; +22 MB with the threshold fixed). No-op where the C library is not glibc."""
    import ctypes

    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 128 * 1024)
    mallopt(m_trim_threshold, 128 * 1024)


def app_from_env() -> FastAPI:
    """The app of one worker process (uvicorn calls this in each): set its threads and
    memory policy, and load the model the parent named."""
    import torch

    from ..recognition.predictor import Predictor
    from ..store import open_store
    from .app import create_app
    from .live import Source
    from .models import model_names

    config = ServeConfig.from_json(os.environ[SETTINGS_ENV])
    return_large_blocks_to_the_system()
    torch.set_num_threads(config.threads_per_worker)
    load = partial(Predictor.load, device=config.device, runtime=config.runtime, lines=config.lines,
                   groups=config.groups)
    sources = {name: Source(Path(path), load, Path(config.standin) if config.standin and i == 0 else None)
               for i, (name, path) in enumerate(zip(model_names(config.models), config.models))}
    store = open_store(config.store) if config.store is not None else None
    return create_app(models=sources, limits=config.limits, store=store, watch=config.watch)


def serve(config: ServeConfig) -> None:
    """Serve until interrupted. A PROMETHEUS_MULTIPROC_DIR given by the caller is used
    as it is (it must start empty); otherwise N > 1 workers get a temporary one."""
    import uvicorn

    os.environ[SETTINGS_ENV] = json.dumps(asdict(config))
    made = None
    if config.workers > 1 and not os.environ.get(MULTIPROC_ENV):
        made = os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="digitlab-metrics-")
    try:
        if config.workers > 1:
            run_workers(config.host, config.port, config.workers, config.log_format)
        else:
            uvicorn.run(f"{__name__}:app_from_env", factory=True, host=config.host, port=config.port,
                        log_config=log_config(config.log_format), access_log=False)
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
            os.environ.pop(MULTIPROC_ENV, None)
