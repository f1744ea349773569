"""The purity check: the same step with the same inputs should give the same output."""

from __future__ import annotations

import logging
import reprlib
from typing import TYPE_CHECKING, Any

import dask
from dask.base import tokenize

from xptrack.domain.step_hash import StepHash
from xptrack.ports.repositories import StepHashRepository

if TYPE_CHECKING:
    from xptrack.application.runtime import StepSpec

logger = logging.getLogger("xptrack.experiment")
_short = reprlib.Repr()
_short.maxstring = _short.maxother = 60


def deterministic_hashes(*values: Any) -> tuple[str, ...] | None:
    """dask's token of each value, or None when dask cannot hash one the same way twice.
    (One configuration change for all of them: this runs after every step.)"""
    try:
        with dask.config.set({"tokenize.ensure-deterministic": True}):
            return tuple(str(tokenize(value)) for value in values)
    except Exception:
        return None


def input_hash(
    spec: StepSpec, args: tuple[Any, ...], kwargs: dict[str, Any], seed: int
) -> str | None:
    """The hash of a step call's inputs (its code, derived seed and arguments) that the purity
    check keys on, and the step cache too; None when dask cannot hash them deterministically."""
    hashes = deterministic_hashes((spec.code_hash, seed, args, kwargs))
    return None if hashes is None else hashes[0]


def check_purity(
    store: StepHashRepository,
    spec: StepSpec,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    result: Any,
    seed: int,
    inputs: str | None = None,
) -> bool:
    """Record the step's hashes; warn and return False when its output changed for the same
    inputs, code and derived ``seed`` (a randomized step is compared with its own past
    under the same seed only). Outputs that cannot be hashed are skipped, not an error.
    ``inputs``: the :func:`input_hash` when the caller has it already."""
    if inputs is None:
        hashes = deterministic_hashes((spec.code_hash, seed, args, kwargs), result)
    else:
        output = deterministic_hashes(result)
        hashes = None if output is None else (inputs, output[0])
    if hashes is None:
        logger.debug("Purity check skipped for step %s: inputs or output not hashable", spec.name)
        return True
    input_hash, output_hash = hashes
    record = StepHash(spec.name, input_hash, output_hash)
    previous = store.swap_step_hash(spec.name, input_hash, output_hash)
    if record.conflicts_with(previous):
        logger.warning(
            "Experiment step result is changed with the same input: "
            "(step: %s, args: %s, kwargs: %s)",
            spec.name,
            _short.repr(args),
            _short.repr(kwargs),
        )
        return False
    return True
