"""Seeds: one per trial, and one per step derived from it."""

from __future__ import annotations

import hashlib

#: NumPy's legacy global state accepts seeds below 2**32.
SEED_LIMIT = 2**32


def derive_step_seed(trial_seed: int, step: str) -> int:
    """A seed for ``step`` that depends only on the trial seed and the step's name.

    Steps that dask runs in parallel therefore get the same seeds whatever order
    they run in.

    >>> derive_step_seed(1, "prepare") == derive_step_seed(1, "prepare")
    True
    """
    digest = hashlib.blake2b(f"{trial_seed}:{step}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % SEED_LIMIT
