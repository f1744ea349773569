"""Several trials at once (a sweep): each with its own parameters, all on one dask scheduler.

Each trial is recorded by the runner the moment it ends; this module adds what a sweep
means for the user: the error policy and progress (see :mod:`~xptrack.application.progress`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from xptrack.application.progress import SweepProgress
from xptrack.application.runner import TrialRunner
from xptrack.application.steps import StepCall
from xptrack.domain.errors import InvalidArgument

logger = logging.getLogger("xptrack.experiment")


def run_trials(
    runner: TrialRunner,
    call: StepCall,
    parameter_sets: Sequence[Mapping[str, Any]],
    seed: int | None,
    errors: str,
    dask_kwargs: Mapping[str, Any],
    cache: bool = True,
) -> list[Any]:
    """Run one trial per parameter set; see :meth:`Experiment.run_trials`."""
    if errors not in ("raise", "return"):
        raise InvalidArgument(f"errors must be 'raise' or 'return'; got {errors!r}")
    with SweepProgress(len(parameter_sets)) as progress:
        outcomes = runner.run(call, parameter_sets, seed, dask_kwargs, progress.trial_ended, cache)
    first_error = next((o.error for o in outcomes if o.error is not None), None)
    if first_error is not None and errors == "raise":
        raise first_error
    return [outcome.error if outcome.error is not None else outcome.result for outcome in outcomes]
