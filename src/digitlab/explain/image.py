"""Explanations for the digits a predictor reads in a picture."""

from __future__ import annotations

import numpy as np

from ..models.averaged import AveragedModel
from ..models.build import DigitNet
from ..recognition.predictor import Predictor
from ..recognition.preprocess import ImageError
from ..recognition.reading import Reading
from .explanation import Explanation, explain_digit


class NoSuchDigit(ImageError):
    def __init__(self, digit: int, count: int):
        self.digit, self.count = digit, count
        super().__init__(f"digit {digit} asked for, but the image has {count} digit(s), numbered from 0"
                         if count else f"digit {digit} asked for, but the image has no ink")


def explain_image(predictor: Predictor, gray: np.ndarray, digit: int | None = None
                  ) -> tuple[Reading, str, dict[int, Explanation]]:
    """The predictor's reading of a decoded picture (as `Predictor.read` gives it, with each
    digit's input image), which network is explained (`one_network`), and an explanation of
    each digit it read, or only of the `digit`-th (from 0); each explains the digit the
    reading chose."""
    guesses = predictor.guesses(gray)
    reading = predictor.describe(guesses, with_images=True)
    if digit is not None and not 0 <= digit < len(guesses):
        raise NoSuchDigit(digit, len(guesses))
    chosen = range(len(guesses)) if digit is None else [digit]
    model, network = one_network(predictor.checkpoint.model)
    return reading, network, {i: explain_digit(model, guesses[i].digit.image, reading.digits[i].digit)
                              for i in chosen}


def one_network(model) -> tuple[DigitNet, str]:
    """The network an explanation looks inside, and which it is: the model itself, or the
    first member of an ensemble (whose layers are those of one network; the ensemble's
    reading averages them all)."""
    if isinstance(model, AveragedModel):
        return model.members[0], f"member 1 of the ensemble's {len(model.members)}"
    return model, "the model"
