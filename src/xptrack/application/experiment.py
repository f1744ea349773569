"""The ``Experiment`` facade: what a user of xptrack writes against."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

from xptrack.application import runtime
from xptrack.application.bootstrap import default_probe, open_backend, user_object_codec
from xptrack.application.definition import NO_DEFAULT, Definition
from xptrack.application.entry import entry_script
from xptrack.application.logs import ensure_visible_logging
from xptrack.application.runner import TrialRunner
from xptrack.application.runtime import StepKind, StoreHandle
from xptrack.application.steps import Parameter, Step, StepCall
from xptrack.application.trials import TrialRecorder
from xptrack.domain.environment import CATEGORY_ALIASES, CATEGORY_FORMATS, EnvironmentSnapshot
from xptrack.domain.errors import (
    CorruptRecord,
    InvalidArgument,
    NotFoundError,
    TrialStateError,
    XptrackError,
)
from xptrack.domain.metric import MetricSeries
from xptrack.domain.names import validate_name, validate_trial_id
from xptrack.domain.seeding import check_seed
from xptrack.ports.environment import EnvironmentProbe

if TYPE_CHECKING:
    import os
    from pathlib import Path

    import pandas as pd

    from xptrack.application.rerun import RerunReport
    from xptrack.application.trial_info import TrialInfo
    from xptrack.application.trial_summary import MetricSummary, Progress
    from xptrack.domain.trial_diff import TrialDiff

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
        self._codec = user_object_codec()
        if probe is None and capture_environment:
            probe = default_probe(entry_script())
        self._probe = probe
        self._definition = Definition(self)
        self._steps = self._definition.steps  # read by the command line (cli.py)
        self._last_result_call: StepCall | None = None  # what ex.rerun(n) runs (cli's)
        self._runner = TrialRunner(
            self.id,
            self._definition,
            TrialRecorder(self._store, probe, self._codec),
            StoreHandle(self.backend, self.id, self._codec, self._store),
            self.seed,
        )
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

    def parameter(self, name: str, default: Any = NO_DEFAULT) -> Parameter:
        """Declare a parameter. Without ``default`` it has no value until set
        (``Undefined``); ``default=None`` gives it the value None."""
        self._definition.declare(name, default)
        return Parameter(self, name)

    def set_parameters(self, **values: Any) -> None:
        """Set parameter values for the next trials."""
        self._definition.set_values(values)

    def get_parameters(self, trial_id: int | None = None) -> dict[str, Any]:
        """The values the next trial will use, or those trial ``trial_id`` ran with."""
        if trial_id is None:
            return dict(self._definition.parameters)
        # The one call that hands these values to the user: users' pickles are loaded here only.
        parameters: dict[str, Any] = self._codec.load_pickled(
            dict(self._store.get_trial(self._known_trial(trial_id)).parameters)
        )
        return parameters

    # --- steps -----------------------------------------------------------------------------

    @overload
    def __call__(self, func: StepFunction) -> Step: ...
    @overload
    def __call__(
        self, func: None = None, *, cache: bool = False
    ) -> Callable[[StepFunction], Step]: ...

    def __call__(
        self, func: StepFunction | None = None, *, cache: bool = False
    ) -> Step | Callable[[StepFunction], Step]:
        """``@ex``: a plain step.

        ``cache=True``: an earlier trial's output is reused when the step's inputs, code and
        derived seed are the same (see "Step cache" in the README).
        """
        return self._decorate(func, StepKind.PLAIN, cache)

    @overload
    def persist(self, func: StepFunction) -> Step: ...
    @overload
    def persist(
        self, func: None = None, *, cache: bool = False
    ) -> Callable[[StepFunction], Step]: ...

    def persist(
        self, func: StepFunction | None = None, *, cache: bool = False
    ) -> Step | Callable[[StepFunction], Step]:
        """``@ex.persist``: a step whose output is stored in every trial (see ``get_persisted``).

        ``cache=True``: an earlier trial's output is reused when the step's inputs, code and
        derived seed are the same (see "Step cache" in the README).
        """
        return self._decorate(func, StepKind.PERSIST, cache)

    @overload
    def result(self, func: StepFunction) -> Step: ...
    @overload
    def result(self, func: None = None) -> Callable[[StepFunction], Step]: ...

    def result(self, func: StepFunction | None = None) -> Step | Callable[[StepFunction], Step]:
        """``@ex.result``: the step whose output is the trial's result."""
        return self._decorate(func, StepKind.RESULT)

    def _decorate(
        self, func: StepFunction | None, kind: StepKind, cache: bool = False
    ) -> Step | Callable[[StepFunction], Step]:
        if func is None:
            return lambda f: self._define(f, kind, cache)
        return self._define(func, kind, cache)

    def _define(self, func: StepFunction, kind: StepKind, cache: bool = False) -> Step:
        return self._definition.define(Step(self, func, kind, cache))

    def step_definition(self, name: str) -> Step:
        """The step named ``name`` as last defined (a redefinition replaces it)."""
        try:
            return self._definition.steps[name]
        except KeyError:
            raise NotFoundError(
                f"no step {name!r} in experiment {self.id!r}; steps: {list(self._definition.steps)}"
            ) from None

    def get_code(self, trial_id: int | None = None) -> str:
        """Source of every step (decorators included) as one text: now, or as in ``trial_id``."""
        if trial_id is None:
            return self._definition.code_context().text
        return self._store.load_code(self._known_trial(trial_id))

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

    def run_trial(
        self, call: StepCall, seed: int | None = None, cache: bool = True, **dask_kwargs: Any
    ) -> Any:
        """Run one trial computing ``call`` (what ``call.compute()`` does)."""
        self._last_result_call = call
        return self._runner.run_one(call, seed, dask_kwargs, cache)

    def run_trials(
        self,
        result: StepCall,
        parameter_sets: Sequence[Mapping[str, Any]],
        seed: int | None = None,
        errors: str = "raise",
        cache: bool = True,
        **dask_kwargs: Any,
    ) -> list[Any]:
        """Run one trial per parameter set, all at once on the dask scheduler in use (a sweep).

        Each mapping overrides the current parameter values for its trial only. Every
        trial is recorded, failed ones too; then, with ``errors='raise'``, the first error
        is raised, and with ``errors='return'`` failed trials give their exception in the
        returned list. Progress is logged as trials finish. ``cache=False`` runs the
        ``cache=True`` steps in every trial instead of reusing earlier outputs.

        >>> ex.run_trials(score, [{"a": 1}, {"a": 2}, {"a": 3}])   # doctest: +SKIP
        [3.33, 2.5, 2.0]
        """
        from xptrack.application.sweep import run_trials

        self._last_result_call = result
        return run_trials(self._runner, result, parameter_sets, seed, errors, dask_kwargs, cache)

    def main(self, result: StepCall, argv: Sequence[str] | None = None) -> Any:
        """Command-line entry: ``python script.py a=1 b=2 --seed 1`` runs one trial of ``result``
        with those parameters and prints its result (call under ``if __name__ == '__main__'``)."""
        from xptrack.application.cli import run_from_command_line

        return run_from_command_line(result, argv)

    def save_metric(self, key: str, epoch: int, value: float) -> None:
        """Record ``value`` of metric ``key`` at ``epoch`` for the running trial (inside a step)."""
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

        return history_frame(
            self._store.trial_columns(verbose), self._definition.parameters, verbose
        )

    # --- one trial (lifecycle) ----------------------------------------------------------------

    def get_trial(self, trial_id: int) -> TrialInfo:
        """Trial ``trial_id`` as a read-only :class:`TrialInfo`: status, parameters, result,
        seed, times, error and full traceback, captured output, per-step times, tags, note.

        >>> ex.get_trial(1).status                               # doctest: +SKIP
        'finished'
        """
        from xptrack.application.trial_info import trial_info

        tid = self._known_trial(trial_id)
        try:
            return trial_info(self._store, tid, self._codec.load_pickled)
        except NotFoundError:
            raise NotFoundError(
                f"trial {tid} of experiment {self.id!r} has no record (it never started, or "
                "was deleted)"
            ) from None

    def get_persisted(self, step_name: str, trial_id: int) -> Any:
        """The output a ``@ex.persist`` step stored in trial ``trial_id``."""
        validate_name(step_name, "step name")
        tid = self._known_trial(trial_id)
        try:
            data = self._store.load_persisted(step_name, tid)
        except NotFoundError:
            persisting = list(self._definition.steps_of_kind(StepKind.PERSIST))
            raise NotFoundError(
                f"no persisted output of step {step_name!r} in trial {tid}; steps decorated "
                f"with @ex.persist: {persisting or 'none'}"
            ) from None
        return self._codec.load(data)

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
        category = CATEGORY_ALIASES.get(category, category) if category is not None else None
        if category is not None and category not in CATEGORY_FORMATS:
            raise InvalidArgument(
                f"unknown environment category {category!r}; accepted: "
                f"{', '.join(CATEGORY_FORMATS)} (and {', '.join(CATEGORY_ALIASES)}: "
                "daskperiment's names)"
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
        from xptrack.application.bootstrap import store_backend
        from xptrack.application.dashboard import start_dashboard

        # The local default's store is xptrack_cache/ (every experiment in it), not the
        # one folder this experiment lives in.
        default = store_backend(None)
        backend_of = getattr(default, "backend_of", None)
        is_default = callable(backend_of) and backend_of(self.id) == self.backend
        whole = default if is_default else self.backend
        return start_dashboard(whole, self.id, host=host, port=port, blocking=blocking)

    # --- managing trials: delete, tag, note (use-cases in application.management) ---------

    def delete_trial(self, trial_id: int) -> None:
        """Delete trial ``trial_id`` and everything recorded for it (its id is never reused)."""
        from xptrack.application.management import delete_trial

        delete_trial(self._store, self._known_trial(trial_id))

    def tag(self, trial_id: int, *tags: str) -> None:
        """Add ``tags`` to trial ``trial_id`` (kept sorted, each once): ``ex.tag(3, 'best')``."""
        from xptrack.application.management import change_labels, require_tags

        tid = self._known_trial(trial_id)
        change_labels(self._store, tid, add_tags=require_tags(tags, "ex.tag"))

    def untag(self, trial_id: int, *tags: str) -> None:
        """Remove ``tags`` from trial ``trial_id`` (a tag it does not have is ignored)."""
        from xptrack.application.management import change_labels, require_tags

        tid = self._known_trial(trial_id)
        change_labels(self._store, tid, remove_tags=require_tags(tags, "ex.untag"))

    def note(self, trial_id: int, text: str) -> None:
        """Set the note of trial ``trial_id`` to ``text`` (``''`` clears it)."""
        from xptrack.application.management import set_note

        set_note(self._store, self._known_trial(trial_id), text)

    # --- comparing, exporting, reproducing (use-cases: diff.py, export.py, rerun.py) -------

    def diff(self, a: int, b: int) -> TrialDiff:
        """What differs between trials ``a`` and ``b``: parameters, seed, result, status, code
        per step, environment per category, packages, git state (``str()`` reads as a report).

        >>> print(ex.diff(1, 2))                                 # doctest: +SKIP
        Trial 1 -> trial 2 of experiment quickstart
        Parameters:
          b: 2 -> 3
        """
        from xptrack.application.diff import diff_trials

        return diff_trials(self._store, self.id, self._known_trial(a), self._known_trial(b))

    def export(self, path: str | os.PathLike[str], progress: Progress | None = None) -> Path:
        """Write the verbose history with one column per metric's last value to ``path``:
        ``.csv``, ``.parquet`` (needs pyarrow) or ``.jsonl``, by suffix. ``progress(done,
        total)`` is called as trials are read."""
        from xptrack.application.export import export_history

        return export_history(self.get_history(verbose=True), self._store, path, progress)

    def get_metric_summary(self, trial_id: int) -> list[MetricSummary]:
        """Per metric of trial ``trial_id``: points, first and last epoch, last value, range."""
        from xptrack.application.trial_summary import summarize_metrics

        return summarize_metrics(self._store, self._known_trial(trial_id))

    def list_persisted(self, trial_id: int) -> list[str]:
        """The steps whose output trial ``trial_id`` persisted (see ``get_persisted``)."""
        from xptrack.application.trial_summary import persisted_steps

        return persisted_steps(self._store, self._known_trial(trial_id))

    def rerun(self, trial_id: int, result: StepCall | None = None) -> RerunReport:
        """Run trial ``trial_id`` again as a new trial (its parameters and seed, the steps as
        defined now, the step cache off) through ``result``, by default the result call this
        experiment last computed; the report says whether the result and persisted outputs
        are bit-identical, with the diff that explains it.

        >>> print(ex.rerun(1))                                   # doctest: +SKIP
        Trial 1 reran as trial 3: identical (result and 1 persisted output(s))
        """
        from xptrack.application.rerun import rerun_trial

        result = result if result is not None else self._last_result_call
        if result is None:
            raise InvalidArgument(
                "ex.rerun(n) runs the result call this experiment last computed, and none was "
                "computed here yet: pass it, ex.rerun(n, score(...)), or use "
                "`xptrack rerun script.py N`"
            )
        return rerun_trial(self, self._store, self._known_trial(trial_id), result)

    def _environment(self, trial_id: int | None) -> EnvironmentSnapshot:
        if trial_id is not None:
            return self._store.load_environment(self._known_trial(trial_id))
        probe = self._probe or default_probe(entry_script())
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
    if CATEGORY_FORMATS[category] != "json":
        return text
    try:
        return json.loads(text)
    except ValueError as error:
        raise CorruptRecord(
            f"the stored {category!r} environment is not JSON ({error}); xptrack writes a JSON "
            f"object there, so this record was damaged or written by something else"
        ) from error
