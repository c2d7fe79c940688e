"""What a person may say a drawing is: a digit 0-9, or "not a digit" (stored as 10, the
eleventh class of an IDX export)."""

from __future__ import annotations

from ..errors import DigitlabError

NOT_A_DIGIT = 10
LABEL_NAMES = tuple(str(d) for d in range(10)) + ("not a digit",)


def parse_label(text: str) -> int:
    """A label exactly as the page shows it: one of the ten ASCII digits, or "not a digit".
    Anything else is refused, "10" and other scripts' digits ("७") included: str.isdigit
    would take those, and a correction stored under another label than the person chose
    teaches finetune the wrong thing."""
    if text in LABEL_NAMES:
        return LABEL_NAMES.index(text)
    raise DigitlabError(f"unknown label {text[:40]!r}: give one of the digits 0-9, or 'not a digit'")


def label_name(label: int) -> str:
    return LABEL_NAMES[label]
