"""The API.md session, built on any experiment (shared by unit and integration tests)."""

from __future__ import annotations

from typing import Any


def build_session(ex: Any, epochs: int = 100) -> Any:
    """Declare API.md's parameters and steps on ``ex``; return the result call ``s``."""
    a = ex.parameter("a")
    b = ex.parameter("b", default=2)

    @ex
    def prepare(a, b):
        return a + b

    @ex.persist
    def features(s):
        return [s] * 3

    @ex.result
    def score(s, f):
        for i in range(epochs):
            ex.save_metric("loss", epoch=i, value=1 / (i + s))
        return 10 / s

    return score(prepare(a, b), features(prepare(a, b)))
