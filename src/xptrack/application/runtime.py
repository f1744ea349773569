"""What runs inside a step, wherever dask runs it: a thread, a process, a distributed worker.

A trial travels to its tasks as a small :class:`TrialContext` (the experiment id,
the backend's configuration, the trial id and seed). Each process opens its own
store from that configuration once and keeps it; metric points are buffered per
process and written in batches, at the latest when the step that saved them ends.
"""

from __future__ import annotations

import contextvars
import enum
import logging
import random
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import attrs

from xptrack.application.purity import check_purity
from xptrack.domain.errors import StoreError, TrialStateError
from xptrack.domain.metric import MetricSeries, check_epoch, check_metric_value
from xptrack.domain.seeding import derive_step_seed
from xptrack.domain.user_objects import dump_user_object
from xptrack.ports.repositories import Backend, ExperimentStore

logger = logging.getLogger("xptrack.experiment")

#: Points buffered in a process before they are written without waiting for the step to end.
FLUSH_EVERY_POINTS = 5_000


@attrs.frozen
class TrialContext:
    """What a task needs to know about the trial it belongs to (small and picklable)."""

    experiment_id: str
    backend: Backend
    trial_id: int
    seed: int
    #: In a sweep, a failing step ends only its own trial: its error travels as a value.
    isolate_errors: bool = False


@attrs.frozen
class StepScope:
    """A step being run within a trial."""

    trial: TrialContext
    step: str
    seed: int
    #: Where this step's metric points wait to be written (found once per step, not per point).
    metrics: MetricBuffer


_SCOPE: contextvars.ContextVar[StepScope | None] = contextvars.ContextVar(
    "xptrack_step_scope", default=None
)
_TRIAL: contextvars.ContextVar[TrialContext | None] = contextvars.ContextVar(
    "xptrack_trial", default=None
)


def current_trial() -> TrialContext | None:
    """The trial whose step (or driver) is running in this thread, if any."""
    scope = _SCOPE.get()
    return scope.trial if scope is not None else _TRIAL.get()


@contextmanager
def trial_running(context: TrialContext) -> Iterator[None]:
    """Mark the driver thread as running ``context`` (for ``current_trial_id``)."""
    token = _TRIAL.set(context)
    try:
        yield
    finally:
        _TRIAL.reset(token)


# --- metric buffers, and stores, one per process -------------------------------------------


class MetricBuffer:
    """Metric points waiting to be written in batches.

    Not locked, because the per-point path must be cheap: each running step has a buffer of
    its own (a step runs in one thread), and a caller that shares one between threads
    guards it (see :class:`xptrack.application.trials.ActiveTrial`).
    """

    def __init__(self, store: ExperimentStore) -> None:
        self._store = store
        self._pending: dict[tuple[int, str], MetricSeries] = {}
        self._count = 0

    def add(self, trial_id: int, key: str, epoch: int, value: float) -> None:
        series = self._pending.get((trial_id, key))
        if series is None:
            series = self._pending[(trial_id, key)] = MetricSeries()
        series.epochs.append(epoch)
        series.values.append(value)
        self._count += 1
        if self._count >= FLUSH_EVERY_POINTS:
            self.flush()

    def flush(self) -> None:
        """Write every pending point in one batch."""
        pending, self._pending, self._count = self._pending, {}, 0
        if pending:
            self._store.append_metrics(
                [(tid, key, series) for (tid, key), series in pending.items()]
            )


_stores: dict[tuple[Backend, str], ExperimentStore] = {}
_registry_lock = threading.Lock()


def register_store(backend: Backend, experiment_id: str, store: ExperimentStore) -> None:
    """Let tasks in this process reuse a store the experiment already opened."""
    with _registry_lock:
        _stores[(backend, experiment_id)] = store


def store_for(backend: Backend, experiment_id: str) -> ExperimentStore:
    """This process's store for the experiment, opened on first use."""
    key = (backend, experiment_id)
    store = _stores.get(key)  # the common case, without the lock
    if store is not None:
        return store
    with _registry_lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = backend.open(experiment_id)
        return store


def save_metric(experiment_id: str, key: str, epoch: Any, value: Any) -> None:
    """Buffer one point for the trial whose step runs in this thread."""
    scope = _SCOPE.get()
    if scope is None or scope.trial.experiment_id != experiment_id:
        raise TrialStateError(
            f"save_metric({key!r}, ...) must be called inside a step of a running trial of "
            f"experiment {experiment_id!r}"
        )
    if type(epoch) is not int:
        epoch = check_epoch(epoch)
    if type(value) is not float:
        value = check_metric_value(value)
    scope.metrics.add(scope.trial.trial_id, key, epoch, value)


# --- running one step ---------------------------------------------------------------------


def seed_global_generators(seed: int) -> None:
    """Seed ``random`` and NumPy's global state."""
    random.seed(seed)
    try:
        import numpy
    except ImportError:  # pragma: no cover - numpy is a dependency of pandas
        return
    numpy.random.seed(seed)


def step_rng() -> Any:
    """A NumPy Generator seeded for the running step: reproducible even when steps run in
    parallel threads, which share (and race on) the global generators."""
    import numpy

    scope = _SCOPE.get()
    if scope is None:
        raise TrialStateError("step_rng() must be called inside a step of a running trial")
    return numpy.random.default_rng(scope.seed)


class StepKind(str, enum.Enum):
    """What xptrack does with a step's output besides passing it on."""

    PLAIN = "plain"
    PERSIST = "persist"
    RESULT = "result"


@attrs.frozen
class StepSpec:
    """A step as shipped to the task that runs it."""

    name: str
    kind: StepKind
    func: Callable[..., Any]
    code_hash: str


@attrs.frozen
class StepFailure:
    """The error of a step in a sweep, passed downstream instead of raised."""

    error: BaseException


def _upstream_failure(values: Iterable[Any]) -> StepFailure | None:
    for value in values:
        if isinstance(value, StepFailure):
            return value
        if type(value) in (list, tuple):
            found = _upstream_failure(value)
            if found is not None:
                return found
        elif type(value) is dict:
            found = _upstream_failure(value.values())
            if found is not None:
                return found
    return None


def run_step(
    context: TrialContext, spec: StepSpec, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Run one step of a trial: the task dask executes for every step call."""
    if not context.isolate_errors:
        return _run_step(context, spec, args, kwargs)
    failure = _upstream_failure([*args, *kwargs.values()])
    if failure is not None:
        return failure
    try:
        return _run_step(context, spec, args, kwargs)
    except Exception as error:
        return StepFailure(error)


def _run_step(
    context: TrialContext, spec: StepSpec, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    seed = derive_step_seed(context.seed, spec.name)
    store = store_for(context.backend, context.experiment_id)
    metrics = MetricBuffer(store)
    token = _SCOPE.set(StepScope(context, spec.name, seed, metrics))
    try:
        seed_global_generators(seed)
        result = spec.func(*args, **kwargs)
    except BaseException:
        _flush_after_failure(metrics, context, spec.name)
        raise
    finally:
        _SCOPE.reset(token)
    metrics.flush()
    if spec.kind is StepKind.PERSIST:
        store.save_persisted(spec.name, context.trial_id, dump_user_object(result))
    check_purity(store, spec, args, kwargs, result)
    return result


def _flush_after_failure(metrics: MetricBuffer, context: TrialContext, step: str) -> None:
    # The step's own error is what the user must see; a store error here is only logged.
    try:
        metrics.flush()
    except StoreError:
        logger.exception(
            "Could not save metrics of failed step %s (trial id=%s)", step, context.trial_id
        )
