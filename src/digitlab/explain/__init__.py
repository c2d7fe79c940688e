"""What a model does with one digit: each layer's output in spec order, the probabilities,
and which pixels pushed it toward its answer (integrated gradients). Computed here, from a
model and an input; the web API and `digitlab explain` only render it."""

from .explanation import Explanation, describe, explain_digit
from .image import explain_image

__all__ = ["Explanation", "describe", "explain_digit", "explain_image"]
