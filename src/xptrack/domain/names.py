"""The naming rule shared by experiment ids, step names, metric keys and parameter names."""

from __future__ import annotations

import numbers
import re
from typing import Any

from xptrack.domain.errors import InvalidArgument, InvalidName

MAX_NAME_LENGTH = 100
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}")
RULE = (
    "letters, digits, '_', '-' and '.', starting with a letter or digit, "
    f"at most {MAX_NAME_LENGTH} characters"
)


def validate_name(value: Any, what: str = "name") -> str:
    """Return ``value`` if it is a valid identifier, else raise :class:`InvalidName`.

    >>> validate_name("loss", "metric key")
    'loss'
    """
    if not isinstance(value, str):
        raise InvalidName(
            f"{what} must be a string of {RULE}; got {type(value).__name__} {value!r}"
        )
    if not _NAME.fullmatch(value):
        raise InvalidName(f"invalid {what} {value!r}: use {RULE}")
    return value


def validate_trial_id(value: Any) -> int:
    """Return ``value`` if it is a positive int trial id (bools refused), else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidArgument(
            f"trial id must be a positive int; got {type(value).__name__} {value!r}"
        )
    number = int(value)
    if number < 1:
        raise InvalidArgument(f"trial id must be a positive int (1, 2, ...); got {number!r}")
    return number
