"""A correction from the page -> a Sample: the drawing, what the model made of it and the
label the person gave.

The 28x28 kept is the input the model saw when it read the drawing as one digit; when it
read several (a 5 whose flag came apart reads "51"), the person says the whole drawing is
one thing, so the whole ink is fitted into 28x28 the way the predictor fits one digit.
"""

from __future__ import annotations

from ..data.mnist_style import normalize_ink
from ..recognition.predictor import Predictor
from ..recognition.preprocess import ImageError, decode_image, ink_map
from .sample_store import Sample


def sample_from_drawing(data: bytes, predictor: Predictor, label: int, model: str | None = None) -> Sample:
    """Read `data` with the predictor (served as `model`) and make the sample; ImageError for no ink."""
    gray = decode_image(data)
    guesses = predictor.guesses(gray)
    reading = predictor.describe(guesses)
    if reading.number is None:
        raise ImageError("the image is blank: there is nothing to label")
    pixels = guesses[0].digit.image if len(guesses) == 1 else normalize_ink(ink_map(gray))
    if pixels is None:
        raise ImageError("the image is blank: there is nothing to label")
    return Sample(label=label, drawing=data, pixels=pixels, reading=reading.number,
                  confidence=min(d.confidence for d in reading.digits), rejected=reading.rejected,
                  model=model or predictor.info["name"], weights_sha256=predictor.weights_sha256)
