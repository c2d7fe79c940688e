"""Model specs, presets and the module builder. Knows nothing about training."""

from .build import DigitNet
from .presets import ModelSpec, list_presets, register_preset, resolve_model
from .spec import parse_spec
from .summary import format_summary, summarize

__all__ = ["DigitNet", "ModelSpec", "list_presets", "register_preset", "resolve_model", "parse_spec",
           "format_summary", "summarize"]
