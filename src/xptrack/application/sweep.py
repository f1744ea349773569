"""Several trials at once (a sweep): each with its own parameters, all on one dask scheduler."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dask.base import compute
from dask.callbacks import Callback

from xptrack.application.runtime import StepFailure, TrialContext
from xptrack.application.trials import ActiveTrial, resolve_seed
from xptrack.domain.errors import InvalidArgument

if TYPE_CHECKING:
    from xptrack.application.experiment import Experiment
    from xptrack.application.steps import StepCall

logger = logging.getLogger("xptrack.experiment")


class _Progress(Callback):
    """Logs how many trials of a sweep have finished (local schedulers)."""

    def __init__(self, result_keys: set[str], total: int) -> None:
        super().__init__()
        self._keys, self._total, self._done = result_keys, total, 0

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        if key in self._keys:
            self._done += 1
            logger.info("Trials finished: %d/%d", self._done, self._total)


def _default_client(dask_kwargs: Mapping[str, Any]) -> Any:
    if "scheduler" in dask_kwargs:
        return None
    try:
        from distributed import default_client

        return default_client()
    except (ImportError, ValueError):
        return None


def run_trials(
    experiment: Experiment,
    call: StepCall,
    parameter_sets: Sequence[Mapping[str, Any]],
    seed: int | None,
    errors: str,
    dask_kwargs: dict[str, Any],
) -> list[Any]:
    """Run one trial per parameter set; see :meth:`Experiment.run_trials`."""
    if errors not in ("raise", "return"):
        raise InvalidArgument(f"errors must be 'raise' or 'return'; got {errors!r}")
    prepared = [experiment._prepare_trial(call, overrides) for overrides in parameter_sets]
    code = experiment._code_context()
    recorder = experiment._recorder
    trials: list[ActiveTrial] = []
    graphs = []
    for values in prepared:
        active = recorder.start(
            experiment._recordable(values), resolve_seed(seed, experiment.seed), code
        )
        context = TrialContext(
            experiment.id, experiment.backend, active.trial_id, active.seed, True
        )
        trials.append(active)
        graphs.append(experiment._build_graph(call, context, values))
    outcomes = _compute(graphs, dask_kwargs)
    first_error: BaseException | None = None
    results = []
    for active, outcome in zip(trials, outcomes, strict=True):
        if isinstance(outcome, StepFailure):
            recorder.fail(active, outcome.error)
            first_error = first_error or outcome.error
            results.append(outcome.error)
        else:
            recorder.succeed(active, outcome)
            results.append(outcome)
    if first_error is not None and errors == "raise":
        raise first_error
    return results


def _compute(graphs: list[Any], dask_kwargs: dict[str, Any]) -> list[Any]:
    client = _default_client(dask_kwargs)
    total = len(graphs)
    if client is not None:
        from distributed import as_completed

        futures = client.compute(graphs, **dask_kwargs)
        for done, _ in enumerate(as_completed(futures), start=1):
            logger.info("Trials finished: %d/%d", done, total)
        return list(client.gather(futures))
    keys = {graph.key for graph in graphs}
    with _Progress(keys, total):
        return list(compute(*graphs, **dask_kwargs))
