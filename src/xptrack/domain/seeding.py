"""Seeds: one per trial, and one per step derived from it."""

from __future__ import annotations

import hashlib
import numbers
from typing import Any

from xptrack.domain.errors import InvalidArgument

#: NumPy's legacy global state accepts seeds below 2**32.
SEED_LIMIT = 2**32


def check_seed(seed: Any) -> int | None:
    """``seed`` as an int (None stays None); floats, strings, bools and ints outside
    ``0 <= seed < 2**32`` (what NumPy accepts) are refused."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise InvalidArgument(f"seed must be an int or None; got {type(seed).__name__} {seed!r}")
    value = int(seed)
    if not 0 <= value < SEED_LIMIT:
        raise InvalidArgument(
            f"seed must be between 0 and 2**32 - 1 ({SEED_LIMIT - 1}); got {value}"
        )
    return value


def derive_step_seed(trial_seed: int, step: str) -> int:
    """A seed for ``step`` that depends only on the trial seed and the step's name.

    Steps that dask runs in parallel therefore get the same seeds whatever order
    they run in.

    >>> derive_step_seed(1, "prepare") == derive_step_seed(1, "prepare")
    True
    """
    digest = hashlib.blake2b(f"{trial_seed}:{step}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % SEED_LIMIT
