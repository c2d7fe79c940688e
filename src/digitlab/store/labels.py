"""What a person may say a drawing is: a digit 0-9, or "not a digit" (stored as 10, the
eleventh class of an IDX export)."""

from __future__ import annotations

from ..errors import DigitlabError

NOT_A_DIGIT = 10
LABEL_NAMES = tuple(str(d) for d in range(10)) + ("not a digit",)
_SPELLINGS = {"not a digit": NOT_A_DIGIT, "not-a-digit": NOT_A_DIGIT, "none": NOT_A_DIGIT, "10": NOT_A_DIGIT}


def parse_label(text: str | int) -> int:
    """0-9 for a digit, NOT_A_DIGIT for "not a digit" (also "none" or 10); anything else is refused."""
    key = str(text).strip().lower()
    if key.isdigit() and len(key) == 1:
        return int(key)
    if key in _SPELLINGS:
        return _SPELLINGS[key]
    raise DigitlabError(f"unknown label {str(text)[:40]!r}: give a digit 0-9 or 'not a digit'")


def label_name(label: int) -> str:
    return LABEL_NAMES[label]
