"""The step cache's rules: what a cached step output is keyed by, and what a store keeps of it.

A step marked ``cache=True`` may reuse the output it gave in an earlier trial when it
is called with the same inputs, the same code and the same derived seed. The cache
key folds those three (and the step's name) into one fixed-length text, so that a
store keeps one entry per key and never needs to understand what went into it.
"""

from __future__ import annotations

import hashlib
import re

import attrs

#: Bumped when what goes into a key changes, so that old entries are never reused.
KEY_VERSION = "xptrack-step-cache-1"
_KEY_PATTERN = re.compile(r"[0-9a-f]{64}")


def step_cache_key(step: str, input_hash: str, code_fingerprint: str, step_seed: int) -> str:
    """The key of ``step``'s output for these inputs, code and seed: 64 lowercase hex digits.

    >>> step_cache_key("prep", "ab", "cd", 1) == step_cache_key("prep", "ab", "cd", 1)
    True
    >>> step_cache_key("prep", "ab", "cd", 1) == step_cache_key("prep", "ab", "cd", 2)
    False
    """
    text = "\0".join((KEY_VERSION, step, input_hash, code_fingerprint, str(step_seed)))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def is_cache_key(text: object) -> bool:
    """True when ``text`` is a key :func:`step_cache_key` could have made."""
    return isinstance(text, str) and _KEY_PATTERN.fullmatch(text) is not None


@attrs.frozen
class CachedOutput:
    """A step's output as a store keeps it in the cache: the bytes of the user-object codec,
    and the trial that computed it (what a trial reusing it records as ``cached_from``)."""

    trial_id: int
    data: bytes = attrs.field(repr=lambda data: f"<{len(data)} bytes>")
