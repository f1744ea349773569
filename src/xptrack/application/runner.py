"""The trial runner: the one way a trial of an experiment's graph is run.

``compute()``, ``run_trials``, ``ex.main`` and ``xptrack run`` all come here::

    prepare   every trial's parameter values and seed, checked before anything is recorded
    start     each trial recorded as running (TrialRecorder.start: id, code, environment,
              heartbeat)
    build     one dask graph per trial (graph.build_trial_graph)
    run       all graphs at once on the scheduler in use (graph.compute_trials)
    record    each trial the moment its graph is done (TrialRecorder.succeed / fail)

A step's error, or a result that cannot be stored, ends only its own trial; what the
runner returns is one :class:`TrialOutcome` per trial, in the order asked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from xptrack.application import runtime
from xptrack.application.definition import Definition, recordable
from xptrack.application.graph import TrialGraph, build_trial_graph, compute_trials
from xptrack.application.runtime import StepFailure, StepOutput, StoreHandle, TrialContext
from xptrack.application.steps import StepCall
from xptrack.application.trials import ActiveTrial, TrialRecorder, resolve_seed
from xptrack.domain.errors import TrialStateError
from xptrack.domain.trial import TrialStatus

logger = logging.getLogger("xptrack.experiment")


@attrs.frozen
class TrialOutcome:
    """How one trial ended: its ``result``, or the ``error`` that failed it."""

    trial_id: int
    result: Any = None
    error: BaseException | None = None


#: Told of each trial as it ends (a sweep's progress).
OnTrialEnd = Callable[[TrialOutcome], None]


class TrialRunner:
    """Runs trials of one experiment: its definition, recorded through its recorder."""

    def __init__(
        self,
        experiment_id: str,
        definition: Definition,
        recorder: TrialRecorder,
        store: StoreHandle,
        default_seed: int | None = None,
    ) -> None:
        self.experiment_id = experiment_id
        self.definition = definition
        self.recorder = recorder
        self.store = store
        self.default_seed = default_seed

    def run_one(
        self,
        call: StepCall,
        seed: int | None,
        dask_kwargs: Mapping[str, Any],
        cache: bool = True,
    ) -> Any:
        """Run one trial of ``call``; its result, or its error raised (after recording)."""
        (outcome,) = self.run(call, [{}], seed, dask_kwargs, cache=cache)
        if outcome.error is not None:
            raise outcome.error
        return outcome.result

    def run(
        self,
        call: StepCall,
        parameter_sets: Sequence[Mapping[str, Any]],
        seed: int | None,
        dask_kwargs: Mapping[str, Any],
        on_trial_end: OnTrialEnd | None = None,
        cache: bool = True,
    ) -> list[TrialOutcome]:
        """Run one trial per parameter set (overrides of the current values), all at once;
        ``cache=False`` runs cached steps instead of reusing their outputs."""
        sweep = on_trial_end is not None
        plans = self._prepare(call, parameter_sets, seed, quiet=sweep)
        trials = self._start(plans, quiet=sweep)
        contexts = [self._context(active, cache) for active in trials]
        specs = self.definition.specs(cache)  # once: fingerprinting reads sources
        graphs = [
            build_trial_graph(call, context, specs, values)
            for context, (values, _) in zip(contexts, plans, strict=True)
        ]
        return _Run(self.recorder, trials, on_trial_end).execute(graphs, contexts, dask_kwargs)

    def _prepare(
        self,
        call: StepCall,
        parameter_sets: Sequence[Mapping[str, Any]],
        seed: int | None,
        quiet: bool,
    ) -> list[tuple[dict[str, Any], int]]:
        if runtime.current_trial() is not None:
            raise TrialStateError("a trial cannot be started inside a running trial")
        values = [self.definition.values_for(call, overrides) for overrides in parameter_sets]
        return [(v, resolve_seed(seed, self.default_seed, quiet)) for v in values]

    def _start(self, plans: list[tuple[dict[str, Any], int]], quiet: bool) -> list[ActiveTrial]:
        code = self.definition.code_context()
        trials: list[ActiveTrial] = []
        try:
            for values, seed in plans:
                trials.append(self.recorder.start(recordable(values), seed, code, quiet))
        except BaseException as error:
            # A trial that cannot start (an unstorable parameter) stops the sweep before it
            # runs: the trials already started are recorded as failed, never left running.
            for active in trials:
                self.recorder.fail(active, error, runtime.format_error(error))
            raise
        return trials

    def _context(self, active: ActiveTrial, cache: bool) -> TrialContext:
        return TrialContext(self.experiment_id, self.store, active.trial_id, active.seed, cache)


class _Run:
    """One run of the runner: records each trial as its outcome arrives."""

    def __init__(
        self, recorder: TrialRecorder, trials: list[ActiveTrial], on_end: OnTrialEnd | None
    ) -> None:
        self.recorder = recorder
        self.trials = trials
        self.on_end = on_end
        self.outcomes: list[TrialOutcome | None] = [None] * len(trials)

    def execute(
        self,
        graphs: list[TrialGraph],
        contexts: list[TrialContext],
        dask_kwargs: Mapping[str, Any],
    ) -> list[TrialOutcome]:
        try:
            if len(graphs) == 1:
                # The driver thread belongs to the trial (ex.current_trial_id works in it), and
                # its global generators are seeded as a step's are.
                with runtime.trial_running(contexts[0]):
                    runtime.seed_global_generators(contexts[0].seed)
                    compute_trials(graphs, dask_kwargs, self.record)
            else:
                compute_trials(graphs, dask_kwargs, self.record)
        except BaseException as error:
            # The scheduler itself failed (a lost worker, an unpicklable task, Ctrl-C): every
            # trial that has not ended fails with that error.
            for index, outcome in enumerate(self.outcomes):
                if outcome is None:
                    self.record(index, StepFailure(error, runtime.format_error(error), {}))
            if not isinstance(error, Exception):
                raise
        return [outcome for outcome in self.outcomes if outcome is not None]

    def record(self, index: int, outcome: Any) -> None:
        """Record trial ``index`` with what its graph computed (never raises)."""
        active = self.trials[index]
        if self.outcomes[index] is not None:
            return
        if isinstance(outcome, StepFailure):
            self.recorder.fail(active, outcome.error, outcome.traceback, outcome.traces.values())
            ended = TrialOutcome(active.trial_id, error=outcome.error)
        else:
            value, traces = (
                (outcome.value, outcome.traces.values())
                if isinstance(outcome, StepOutput)
                else (outcome, ())
            )
            record = self.recorder.succeed(active, value, traces)
            error = active.error if record.status is TrialStatus.FAILED else None
            ended = TrialOutcome(active.trial_id, None if error else value, error)
        self.outcomes[index] = ended
        if self.on_end is not None:
            try:
                self.on_end(ended)
            except Exception:
                logger.exception("Reporting the end of trial %s failed", active.trial_id)
