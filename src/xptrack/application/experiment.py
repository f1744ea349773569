"""The ``Experiment`` facade: what a user of xptrack writes against."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

from dask._task_spec import Task, TaskRef, parse_input
from dask.base import compute, get_scheduler
from dask.delayed import Delayed
from dask.threaded import get as threaded_get

from xptrack.application import runtime
from xptrack.application.bootstrap import default_probe, open_backend
from xptrack.application.logs import ensure_visible_logging
from xptrack.application.runtime import StepKind, TrialContext
from xptrack.application.steps import Parameter, Step, StepCall, Undefined
from xptrack.application.trials import TrialRecorder
from xptrack.domain.code import CodeContext
from xptrack.domain.environment import CATEGORY_FORMATS, EnvironmentSnapshot
from xptrack.domain.errors import (
    InvalidArgument,
    NotFoundError,
    TrialStateError,
    UndefinedParameter,
    UnknownParameter,
    XptrackError,
)
from xptrack.domain.metric import MetricSeries
from xptrack.domain.names import validate_name, validate_trial_id
from xptrack.domain.seeding import check_seed
from xptrack.domain.user_objects import load_user_object
from xptrack.ports.environment import EnvironmentProbe

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger("xptrack.experiment")
StepFunction = Callable[..., Any]


class Experiment:
    """An experiment: parameters, steps, and the history of every trial, kept in a store.

    >>> ex = Experiment("quickstart")                       # doctest: +SKIP
    >>> a = ex.parameter("a")
    >>> @ex.result
    ... def double(a):
    ...     return 2 * a
    >>> ex.set_parameters(a=1)
    >>> double(a).compute(seed=1)
    2
    """

    def __init__(
        self,
        id: str,
        backend: Any = None,
        seed: int | None = None,
        *,
        capture_environment: bool = True,
        probe: EnvironmentProbe | None = None,
    ) -> None:
        ensure_visible_logging()
        self.id = validate_name(id, "experiment id")
        self.seed = check_seed(seed)
        self.backend = open_backend(backend, self.id)
        self._store = self.backend.open(self.id)
        runtime.register_store(self.backend, self.id, self._store)
        if probe is None and capture_environment:
            probe = default_probe()
        self._probe = probe
        self._recorder = TrialRecorder(self._store, probe)
        self._parameters: dict[str, Any] = {}
        self._steps: dict[str, Step] = {}
        self._metric_keys: set[str] = set()
        verb = "Loaded existing" if self._store.last_trial_id() else "Initialized new"
        logger.info("%s experiment: %r", verb, self)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Step functions defined in a script are pickled by value with the globals they use,
        # ``ex`` among them: a worker process gets a handle on the same experiment, opened
        # from the backend's configuration, never the live store.
        return (_experiment_in_worker, (self.id, self.backend, self.seed))

    def __repr__(self) -> str:
        return (
            f"Experiment(id: {self.id}, trial_id: {self._store.last_trial_id()}, "
            f"backend: {self.backend!r})"
        )

    # --- parameters ------------------------------------------------------------------------

    def parameter(self, name: str, default: Any = None) -> Parameter:
        """Declare a parameter (its value is ``default``, or ``Undefined`` when that is None)."""
        validate_name(name, "parameter name")
        if name not in self._parameters or default is not None:
            self._parameters[name] = Undefined if default is None else default
        return Parameter(self, name)

    def set_parameters(self, **values: Any) -> None:
        """Set parameter values for the next trials."""
        unknown = sorted(set(values) - set(self._parameters))
        if unknown:
            declared = ", ".join(self._parameters) or "none yet"
            raise UnknownParameter(
                f"unknown parameters {unknown}; declared with ex.parameter(): {declared}"
            )
        self._parameters.update(values)

    def get_parameters(self, trial_id: int | None = None) -> dict[str, Any]:
        """The values the next trial will use, or those trial ``trial_id`` ran with."""
        if trial_id is None:
            return dict(self._parameters)
        return dict(self._store.get_trial(self._known_trial(trial_id)).parameters)

    # --- steps -----------------------------------------------------------------------------

    @overload
    def __call__(self, func: StepFunction) -> Step: ...
    @overload
    def __call__(self, func: None = None) -> Callable[[StepFunction], Step]: ...

    def __call__(self, func: StepFunction | None = None) -> Step | Callable[[StepFunction], Step]:
        """``@ex``: a plain step."""
        return self._decorate(func, StepKind.PLAIN)

    @overload
    def persist(self, func: StepFunction) -> Step: ...
    @overload
    def persist(self, func: None = None) -> Callable[[StepFunction], Step]: ...

    def persist(self, func: StepFunction | None = None) -> Step | Callable[[StepFunction], Step]:
        """``@ex.persist``: a step whose output is stored in every trial (see ``get_persisted``)."""
        return self._decorate(func, StepKind.PERSIST)

    @overload
    def result(self, func: StepFunction) -> Step: ...
    @overload
    def result(self, func: None = None) -> Callable[[StepFunction], Step]: ...

    def result(self, func: StepFunction | None = None) -> Step | Callable[[StepFunction], Step]:
        """``@ex.result``: the step whose output is the trial's result."""
        return self._decorate(func, StepKind.RESULT)

    def _decorate(
        self, func: StepFunction | None, kind: StepKind
    ) -> Step | Callable[[StepFunction], Step]:
        if func is None:
            return lambda f: self._define(f, kind)
        return self._define(func, kind)

    def _define(self, func: StepFunction, kind: StepKind) -> Step:
        step = Step(self, func, kind)
        old = self._steps.pop(step.name, None)
        if old is not None and old.source != step.source:
            logger.info("Step %s is redefined: the new definition replaces the old one", step.name)
        self._steps[step.name] = step
        return step

    def get_code(self, trial_id: int | None = None) -> str:
        """Source of every step (decorators included) as one text: now, or as in ``trial_id``."""
        if trial_id is None:
            return self._code_context().text
        return self._store.load_code(self._known_trial(trial_id))

    def _code_context(self) -> CodeContext:
        return CodeContext({name: step.source for name, step in self._steps.items()})

    # --- trials ----------------------------------------------------------------------------

    @property
    def trial_id(self) -> int:
        """The last trial's id (0 when none). Inside a trial use ``current_trial_id``."""
        if runtime.current_trial() is not None:
            raise TrialStateError(
                "ex.trial_id is the last finished or started trial and is not available inside "
                "a running trial; use ex.current_trial_id"
            )
        return self._store.last_trial_id()

    @property
    def current_trial_id(self) -> int:
        """The id of the trial running in this thread or task."""
        trial = runtime.current_trial()
        if trial is None or trial.experiment_id != self.id:
            raise TrialStateError(
                f"no trial of experiment {self.id!r} is running here; current_trial_id works "
                "inside a step (or use ex.trial_id for the last trial)"
            )
        return trial.trial_id

    def run_trial(self, call: StepCall, seed: int | None = None, **dask_kwargs: Any) -> Any:
        """Run one trial computing ``call`` (what ``call.compute()`` does)."""
        values = self._values_for(call)
        code = self._code_context()
        seed = seed if seed is not None else self.seed
        with self._recorder.trial(self._recordable(values), seed, code) as trial:
            context = TrialContext(self.id, self.backend, trial.trial_id, trial.seed)
            graph = self._build_graph(call, context, values)
            with runtime.trial_running(context):
                runtime.seed_global_generators(trial.seed)
                if dask_kwargs.keys() <= {"scheduler"}:
                    # The graph is xptrack's own, already final: straight to the scheduler
                    # dask.compute would pick, without its collection layer (~0.45 ms a trial).
                    schedule = get_scheduler(scheduler=dask_kwargs.get("scheduler"))
                    (trial.result,) = (schedule or threaded_get)(dict(graph.dask), [graph.key])
                else:
                    (trial.result,) = compute(graph, **dask_kwargs)
        return trial.result

    def run_trials(
        self,
        result: StepCall,
        parameter_sets: Sequence[Mapping[str, Any]],
        seed: int | None = None,
        errors: str = "raise",
        **dask_kwargs: Any,
    ) -> list[Any]:
        """Run one trial per parameter set, all at once on the dask scheduler in use (a sweep).

        Each mapping overrides the current parameter values for its trial only. Every
        trial is recorded, failed ones too; then, with ``errors='raise'``, the first error
        is raised, and with ``errors='return'`` failed trials give their exception in the
        returned list. Progress is logged as trials finish.

        >>> ex.run_trials(score, [{"a": 1}, {"a": 2}, {"a": 3}])   # doctest: +SKIP
        [3.33, 2.5, 2.0]
        """
        from xptrack.application.sweep import run_trials

        return run_trials(self, result, parameter_sets, seed, errors, dask_kwargs)

    def _prepare_trial(self, call: StepCall, overrides: Mapping[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(overrides) - set(self._parameters))
        if unknown:
            raise UnknownParameter(
                f"unknown parameters {unknown}; declared with ex.parameter(): "
                + (", ".join(self._parameters) or "none yet")
            )
        return self._values_for(call, overrides)

    def _values_for(
        self, call: StepCall, overrides: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        if call.experiment is not self:
            raise InvalidArgument(f"{call!r} belongs to another experiment than {self.id!r}")
        if self._steps.get(call.step) is None or self._steps[call.step].kind is not StepKind.RESULT:
            raise InvalidArgument(
                f"compute() runs a trial and needs the result step's call; {call.step!r} is not "
                "decorated with @ex.result"
            )
        if runtime.current_trial() is not None:
            raise TrialStateError("a trial cannot be started inside a running trial")
        values = {**self._parameters, **(overrides or {})}
        missing = sorted({p.name for p in call.parameters() if values.get(p.name) is Undefined})
        if missing:
            raise UndefinedParameter(
                f"parameters {missing} have no value: set them with ex.set_parameters("
                + ", ".join(f"{name}=..." for name in missing)
                + ") before computing; nothing was recorded"
            )
        return values

    @staticmethod
    def _recordable(values: Mapping[str, Any]) -> dict[str, Any]:
        return {name: value for name, value in values.items() if value is not Undefined}

    def _build_graph(self, call: StepCall, context: TrialContext, values: dict[str, Any]) -> Any:
        """The dask graph of one trial: every step call becomes a task carrying ``context``.

        Built as dask task-spec nodes rather than through ``dask.delayed``: the same graph,
        at ~10 µs a task instead of ~170 µs, which is most of a small trial's overhead.
        """
        graph: dict[str, Task] = {}
        keys: dict[int, str] = {}
        # Keys must be unique on a scheduler shared by several experiments (or stores, or
        # clients): distributed runs a key once and hands its result to every graph naming it.
        token = uuid.uuid4().hex[:12]

        def convert(node: Any) -> Any:
            if isinstance(node, StepCall):
                if id(node) not in keys:
                    spec = self._steps[node.step].spec  # the latest definition of the step
                    args = parse_input(tuple(convert(arg) for arg in node.args))
                    kwargs = parse_input({k: convert(v) for k, v in node.kwargs.items()})
                    key = f"{node.step}-{context.trial_id}-{len(keys)}-{token}"
                    graph[key] = Task(key, runtime.run_step, context, spec, args, kwargs)
                    keys[id(node)] = key
                return TaskRef(keys[id(node)])
            if isinstance(node, Parameter):
                return values[node.name]
            if type(node) in (list, tuple):
                return type(node)(convert(item) for item in node)
            if type(node) is dict:
                return {key: convert(value) for key, value in node.items()}
            return node

        return Delayed(convert(call).key, graph)

    def main(self, result: StepCall, argv: Sequence[str] | None = None) -> Any:
        """Command-line entry: ``python script.py a=1 b=2 --seed 1`` runs one trial of ``result``
        with those parameters and prints its result (call under ``if __name__ == '__main__'``)."""
        from xptrack.application.cli import run_from_command_line

        return run_from_command_line(result, argv)

    def save_metric(self, key: str, epoch: int, value: float) -> None:
        """Record ``value`` of metric ``key`` at ``epoch`` for the running trial (inside a step)."""
        if key not in self._metric_keys:  # validated once, not at every point
            self._metric_keys.add(validate_name(key, "metric key"))
        runtime.save_metric(self.id, key, epoch, value)

    # --- reading the history ---------------------------------------------------------------

    def _known_trial(self, trial_id: Any) -> int:
        """``trial_id`` checked: an int, and one this experiment has handed out."""
        tid = validate_trial_id(trial_id)
        last = self._store.last_trial_id()
        if tid > last:
            trials = f"its trials are 1 to {last}" if last else "it has no trials yet"
            raise NotFoundError(f"no trial {tid} in experiment {self.id!r}; {trials}")
        return tid

    def get_history(self, verbose: bool = False) -> pd.DataFrame:
        """Every trial, one row each, indexed by trial id."""
        from xptrack.application.history import history_frame  # pandas: only when asked

        return history_frame(self._store.list_trials(), self._parameters, verbose)

    def get_persisted(self, step_name: str, trial_id: int) -> Any:
        """The output a ``@ex.persist`` step stored in trial ``trial_id``."""
        validate_name(step_name, "step name")
        tid = self._known_trial(trial_id)
        try:
            data = self._store.load_persisted(step_name, tid)
        except NotFoundError:
            persisting = [n for n, s in self._steps.items() if s.kind is StepKind.PERSIST]
            raise NotFoundError(
                f"no persisted output of step {step_name!r} in trial {tid}; steps decorated "
                f"with @ex.persist: {persisting or 'none'}"
            ) from None
        return load_user_object(data)

    def load_metric(self, key: str, trial_id: int | Sequence[int]) -> pd.DataFrame:
        """Metric ``key`` of one or several trials: index ``Epoch``, one column per trial id."""
        validate_name(key, "metric key")
        ids = [trial_id] if not isinstance(trial_id, (list, tuple)) else list(trial_id)
        if not ids:
            raise InvalidArgument("load_metric needs at least one trial id")
        series: dict[int, MetricSeries] = {}
        for raw in ids:
            tid = self._known_trial(raw)
            try:
                series[tid] = self._store.load_metric(tid, key)
            except NotFoundError:
                keys = self._store.metric_keys(tid)
                raise NotFoundError(
                    f"no metric {key!r} in trial {tid} of experiment {self.id!r}; "
                    f"metrics saved in that trial: {keys or 'none'}"
                ) from None
        from xptrack.application.history import metric_frame

        return metric_frame(series)

    def get_environment(self, trial_id: int | None = None, category: str | None = None) -> Any:
        """The environment of trial ``trial_id`` (now, when None): a dict of categories, or one
        category (a dict for JSON ones, text for the others)."""
        if category is not None and category not in CATEGORY_FORMATS:
            raise InvalidArgument(
                f"unknown environment category {category!r}; "
                f"accepted: {', '.join(CATEGORY_FORMATS)}"
            )
        snapshot = self._environment(trial_id)
        if category is not None:
            return _parse_category(category, snapshot[category])
        return {name: _parse_category(name, text) for name, text in snapshot.categories.items()}

    def get_python_packages(self, trial_id: int | None = None) -> list[str]:
        """Installed distributions, ``pip freeze``-like (``name==version``), now or in a trial."""
        return self._environment(trial_id)["requirements"].splitlines()

    def start_dashboard(
        self, port: int = 5000, host: str = "127.0.0.1", blocking: bool | None = None
    ) -> Any:
        """Serve the dashboard of this experiment's store, opening on this experiment.

        Blocks until Ctrl-C when run from a script; inside Jupyter/IPython (or with
        ``blocking=False``) returns a handle with ``url`` and ``stop()``. Bound to this
        machine only unless ``host`` says otherwise."""
        from xptrack.application.dashboard import start_dashboard

        return start_dashboard(self.backend, self.id, host=host, port=port, blocking=blocking)

    def _environment(self, trial_id: int | None) -> EnvironmentSnapshot:
        if trial_id is not None:
            return self._store.load_environment(self._known_trial(trial_id))
        probe = self._probe or default_probe()
        return probe.capture()


_worker_experiments: dict[tuple[Any, str], Experiment] = {}


def _experiment_in_worker(experiment_id: str, backend: Any, seed: int | None) -> Experiment:
    """This process's handle on an experiment shipped from another process (one per process)."""
    key = (backend, experiment_id)
    experiment = _worker_experiments.get(key)
    if experiment is None:
        try:
            experiment = Experiment(experiment_id, backend, seed, capture_environment=False)
        except XptrackError as error:
            # Never raise while unpickling: distributed then drops the worker's connection
            # and the computation hangs. The step that uses the handle raises instead.
            return _UnusableExperiment(error)  # type: ignore[return-value]
        _worker_experiments[key] = experiment
    return experiment


class _UnusableExperiment:
    """An experiment this process could not open: any use raises why."""

    def __init__(self, error: XptrackError) -> None:
        self._error = error

    def __getattr__(self, name: str) -> Any:
        raise self._error


def _parse_category(category: str, text: str) -> Any:
    return json.loads(text) if CATEGORY_FORMATS[category] == "json" else text
