"""The one reading type: what `predict --json` prints, what the API answers (its OpenAPI
schema is made from these classes) and what the page draws.

A `Reading` is the number in one image, digit by digit, and whether it is to be trusted;
`Predictor.describe` makes it from the reading path's `DigitGuess`es. Plain dataclasses,
so the reading side needs no web framework to produce one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class TopGuess:
    digit: int
    probability: float


@dataclass(frozen=True)
class DigitReading:
    digit: int
    confidence: float  # the probability of `digit`
    top3: list[TopGuess]
    box: list[int]  # x, y, width, height in the image
    image: str | None = None  # the 28x28 input the model saw, as a PNG data URL (when detail is asked)
    probabilities: list[float] | None = None  # all ten (when detail is asked)


@dataclass(frozen=True)
class Reading:
    number: str | None  # the model's reading; None when the image has no ink at all
    digits: list[DigitReading] = field(default_factory=list)
    rejected: bool = False  # some shape is not confidently a digit (or there is no ink)
    reason: str | None = None  # why it was rejected
    file: str | None = None  # the image's file name, where it came from one

    def to_json(self) -> dict:
        """As JSON: `file` first, and a digit's `image` and `probabilities` only when present."""
        out = {"file": self.file, **asdict(self)}
        for digit in out["digits"]:
            for key in ("image", "probabilities"):
                if digit[key] is None:
                    del digit[key]
        return out
