"""Several models in one server (`serve --model A --model B`): each in its own ModelSlot,
by name, the first the default. Routes take `?model=NAME`; GET /api/models lists them for
the page's picker. A name is the model's directory as a person would say it:
runs/default/best -> "default/best", runs/best-ensemble -> "best-ensemble".
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from ..errors import DigitlabError
from ..recognition.predictor import Predictor
from .live import Source
from .model_slot import ModelSlot

RUN_CHECKPOINTS = ("best", "last")


def model_name(path: str | Path) -> str:
    path = Path(path)
    return f"{path.parent.name}/{path.name}" if path.name in RUN_CHECKPOINTS and path.parent.name else path.name


def model_names(paths: list[str | Path]) -> list[str]:
    """Names for the models of one server; two alike are refused (say which)."""
    names = [model_name(p) for p in paths]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise DigitlabError(f"two --model paths have the same name {', '.join(map(repr, twice))}; "
                            "serve models from differently named directories")
    return names


Model = Predictor | Callable[[], Predictor] | Source


class ModelSlots:
    def __init__(self, models: dict[str, Model], on_swap: Callable[[str], None] = lambda outcome: None):
        if not models:
            raise ValueError("a server needs at least one model")
        self.loaders = {name: m for name, m in models.items() if not isinstance(m, Predictor)}
        self.slots = {name: ModelSlot(m if isinstance(m, Predictor) else None,
                                      source=m if isinstance(m, Source) else None, on_swap=on_swap)
                      for name, m in models.items()}
        self.default = next(iter(self.slots))

    def load(self) -> None:
        """Load and warm the models given as load functions or sources (blocking; failures
        kept per slot)."""
        for name, load in self.loaders.items():
            if isinstance(load, Source):
                self.slots[name].load_source()
            else:
                self.slots[name].load(load)

    def refresh(self) -> None:
        """Swap in every watched model's new checkpoint, where there is one (live.py)."""
        for slot in self.slots.values():
            if slot.source is not None:
                slot.refresh()

    @property
    def watched(self) -> bool:
        return any(slot.source is not None for slot in self.slots.values())

    def slot(self, name: str | None = None) -> ModelSlot:
        if name is None:
            return self.slots[self.default]
        if name not in self.slots:
            raise HTTPException(404, f"no model named {name[:100]!r}; this server has {', '.join(self.slots)}")
        return self.slots[name]

    def get(self, name: str | None = None) -> Predictor:
        """The named (or default) model, 404 for an unknown name, 503 while it is not loaded."""
        return self.slot(name).get()

    def check_ready(self) -> None:
        """503 naming the first model that failed to load."""
        for name, slot in self.slots.items():
            if not slot.ready:
                raise HTTPException(503, f"model {name!r} is not ready: {slot.error or 'not loaded yet'}")

    @property
    def load_seconds(self) -> float | None:
        seconds = [s.load_seconds for s in self.slots.values()]
        return None if None in seconds else sum(seconds)


class ServedModel(BaseModel):
    name: str
    default: bool  # what /api/predict reads with when no ?model= is given
    ready: bool
    error: str | None  # why it failed to load
    parameters: int | None
    runtime: str | None
    line_reader: str | None = None  # its line reader for touching digits, if it has one
    group_judge: str | None = None  # its group judge, if it has one


def models_router(models: ModelSlots) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["api"])

    @router.get("/models", response_model=list[ServedModel], summary="The models this server reads with")
    async def served() -> list[dict]:
        rows = []
        for name, slot in models.slots.items():
            info = slot.get().info if slot.ready else {}
            rows.append({"name": name, "default": name == models.default, "ready": slot.ready, "error": slot.error,
                         "parameters": info.get("parameters"), "runtime": info.get("runtime"),
                         "line_reader": info.get("line_reader"), "group_judge": info.get("group_judge")})
        return rows

    return router
