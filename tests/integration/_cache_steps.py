"""An experiment with a cached first step, for the step-cache tests, in this or another process.

Every call of a step appends its name to a calls file, so a test counts how often a
step's function ran, whichever process ran it. Run as a module, this file runs one
trial and prints ``{"trial": <id>, "result": <result>}``::

    python -m tests.integration._cache_steps <backend> <experiment id> <calls file> <a> <lr> <seed>
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
from typing import Any

import xptrack


def record_call(calls: pathlib.Path, step: str) -> None:
    """Append ``step`` to the calls file (one small O_APPEND write: safe across processes)."""
    fd = os.open(calls, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, f"{step}\n".encode())
    finally:
        os.close(fd)


def calls_of(calls: pathlib.Path, step: str) -> int:
    """How many times ``step`` ran."""
    return calls.read_text().split().count(step) if calls.exists() else 0


def build_cached(ex: xptrack.Experiment, calls: pathlib.Path) -> Any:
    """``fit(prep(a), lr)``: ``prep`` (cached, expensive in real life) uses only ``a``,
    ``fit`` (the result) the late parameter ``lr``."""
    a = ex.parameter("a")
    lr = ex.parameter("lr")

    @ex(cache=True)
    def prep(a):
        record_call(calls, "prep")
        return [a * 10, a * 20, a * 30]

    @ex.result
    def fit(rows, lr):
        record_call(calls, "fit")
        return sum(rows) * lr

    return fit(prep(a), lr)


def main(argv: list[str]) -> None:
    uri, experiment_id, calls, a, lr, seed = argv
    backend = uri if "://" in uri else pathlib.Path(uri)  # a URI, or the local store's folder
    ex = xptrack.Experiment(experiment_id, backend=backend, capture_environment=False)
    result = build_cached(ex, pathlib.Path(calls))
    ex.set_parameters(a=int(a), lr=float(lr))
    value = result.compute(seed=int(seed))
    print(json.dumps({"trial": ex.trial_id, "result": value}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
