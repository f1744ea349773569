"""What runs inside a task, wherever dask runs it: a thread, a process, a distributed worker.

A trial travels to its tasks as a small :class:`TrialContext`: the trial id and seed,
and a :class:`StoreHandle`, which is the experiment's own store in the process that runs
the trial and, once pickled to another process, that process's store for the same
backend and experiment, opened once. Each task runs one step (:func:`run_step`) and
returns a :class:`StepOutput` (the value, and what the steps so far printed and when they
ran) or, when it or a step before it failed, a :class:`StepFailure`: a failing step ends
only its own trial, never the other trials of a sweep.
"""

from __future__ import annotations

import contextvars
import enum
import logging
import random
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import attrs

from xptrack.application.capture import capturing
from xptrack.application.metrics import MetricBuffer
from xptrack.application.purity import check_purity, input_hash
from xptrack.application.step_cache import StepCache, cache_key
from xptrack.domain.errors import StoreError, TrialStateError
from xptrack.domain.names import validate_name
from xptrack.domain.seeding import derive_step_seed
from xptrack.domain.trial import StepRecord, utcnow
from xptrack.ports.repositories import Backend, ExperimentStore
from xptrack.ports.user_objects import UserObjectCodec

logger = logging.getLogger("xptrack.experiment")


# --- the store a task writes to ------------------------------------------------------------


class StoreHandle:
    """The store of one experiment, as tasks reach it, with the codec of users' objects.

    In the process that made it, it holds the experiment's own store. Pickled (to a worker
    process), it becomes a handle on that process's store for the same backend and
    experiment: opened on first use, once per process, keyed by the backend's identity
    (``Backend.__eq__``/``__hash__``) and the experiment id.
    """

    def __init__(
        self,
        backend: Backend,
        experiment_id: str,
        codec: UserObjectCodec,
        store: ExperimentStore | None = None,
    ) -> None:
        self.backend = backend
        self.experiment_id = experiment_id
        self.codec = codec
        self._store = store

    @property
    def store(self) -> ExperimentStore:
        """The store (opened in this process on first use)."""
        if self._store is None:
            self._store = _worker_store(self.backend, self.experiment_id)
        return self._store

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (StoreHandle, (self.backend, self.experiment_id, self.codec))


_worker_stores: dict[tuple[Backend, str], ExperimentStore] = {}
_worker_stores_lock = threading.Lock()


def _worker_store(backend: Backend, experiment_id: str) -> ExperimentStore:
    with _worker_stores_lock:
        store = _worker_stores.get((backend, experiment_id))
        if store is None:
            store = _worker_stores[(backend, experiment_id)] = backend.open(experiment_id)
        return store


@attrs.frozen
class TrialContext:
    """What a task needs to know about the trial it belongs to (small and picklable)."""

    experiment_id: str
    store: StoreHandle = attrs.field(eq=False)
    trial_id: int
    seed: int
    #: False runs every step, cached ones too (``compute(cache=False)``, ``ex.rerun``).
    use_cache: bool = True


# --- the step running in this thread ----------------------------------------------------------


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


def save_metric(experiment_id: str, key: str, epoch: Any, value: Any) -> None:
    """Buffer one point for the trial whose step runs in this thread."""
    scope = _SCOPE.get()
    if scope is None or scope.trial.experiment_id != experiment_id:
        validate_name(key, "metric key")  # a bad name is the first thing to hear about
        raise TrialStateError(
            f"save_metric({key!r}, ...) must be called inside a step of a running trial of "
            f"experiment {experiment_id!r}"
        )
    scope.metrics.add(scope.trial.trial_id, key, epoch, value)


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


# --- steps and what their tasks return ------------------------------------------------------


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
    #: The code fingerprint of a ``cache=True`` step, taken for this run (None: not cached).
    fingerprint: str | None = None


@attrs.frozen
class StepTrace:
    """When one step call of a trial ran and what it printed and logged."""

    key: str
    record: StepRecord
    output: str


#: The traces of the step calls a value depends on, by task key (merged, never repeated).
Traces = Mapping[str, StepTrace]


@attrs.frozen
class StepOutput:
    """A task's value, with the traces of every step call it depends on."""

    value: Any
    traces: Traces


@attrs.frozen
class StepFailure:
    """A step's error (or its upstream's), passed downstream instead of raised."""

    error: BaseException
    traceback: str
    traces: Traces


def unwrap(values: Iterable[Any]) -> tuple[list[Any], dict[str, StepTrace], StepFailure | None]:
    """The plain values of task arguments, their traces merged, and the first failure."""
    plain: list[Any] = []
    traces: dict[str, StepTrace] = {}
    for value in values:
        kind = type(value)
        if kind is StepOutput:
            traces.update(value.traces)
            plain.append(value.value)
        elif kind is StepFailure:
            return plain, traces, value
        elif kind in (list, tuple):
            items, inner, failure = unwrap(value)
            traces.update(inner)
            if failure is not None:
                return plain, traces, failure
            plain.append(kind(items))
        elif kind is dict:
            items, inner, failure = unwrap(value.values())
            traces.update(inner)
            if failure is not None:
                return plain, traces, failure
            plain.append(dict(zip(value, items, strict=True)))
        else:
            plain.append(value)
    return plain, traces, None


# --- running one step ---------------------------------------------------------------------


def run_step(
    context: TrialContext,
    spec: StepSpec,
    key: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> StepOutput | StepFailure:
    """Run one step of a trial: the task dask executes for every step call."""
    values, traces, failure = unwrap([*args, *kwargs.values()])
    if failure is not None:
        return failure
    plain_args = tuple(values[: len(args)])
    plain_kwargs = dict(zip(kwargs, values[len(args) :], strict=True))
    started = utcnow()
    failed: StepFailure | None = None
    with capturing() as captured:
        try:
            result, cached_from = _reuse_or_call(context, spec, plain_args, plain_kwargs)
        except Exception as error:
            failed, cached_from = StepFailure(error, format_error(error), traces), None
    record = StepRecord(spec.name, started, utcnow(), cached_from)
    trace = StepTrace(key, record, captured.text())
    traces[key] = trace
    if failed is not None:
        return attrs.evolve(failed, traces=traces)
    return StepOutput(result, traces)


def format_error(error: BaseException) -> str:
    """The traceback of ``error`` as a user reads it: from their step down, without the
    frames of xptrack's task machinery above it."""
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(error), error, tb))


def _reuse_or_call(
    context: TrialContext, spec: StepSpec, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, int | None]:
    """The step's output, and the trial it was reused from (None when the step ran)."""
    seed = derive_step_seed(context.seed, spec.name)
    if spec.fingerprint is None or not context.use_cache:
        return _call_step(context, spec, seed, args, kwargs), None
    inputs = input_hash(spec, args, kwargs, seed)
    key = cache_key(spec.name, inputs, spec.fingerprint, seed)
    if key is None:
        return _call_step(context, spec, seed, args, kwargs), None
    store = context.store.store
    codec = context.store.codec
    outcome = StepCache(store, codec=codec).reuse_or_run(
        spec.name,
        key,
        context.trial_id,
        lambda: _call_step(context, spec, seed, args, kwargs, inputs, persist=False),
    )
    if spec.kind is StepKind.PERSIST:
        # The bytes the cache holds are the codec's already: persisted, not pickled again.
        data = outcome.data if outcome.data is not None else codec.dump(outcome.value)
        store.save_persisted(spec.name, context.trial_id, data)
    return outcome.value, outcome.cached_from


def _call_step(
    context: TrialContext,
    spec: StepSpec,
    seed: int,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    inputs: str | None = None,
    persist: bool = True,
) -> Any:
    store = context.store.store
    metrics = MetricBuffer(store)
    token = _SCOPE.set(StepScope(context, spec.name, seed, metrics))
    try:
        with metrics:
            seed_global_generators(seed)
            result = spec.func(*args, **kwargs)
    except BaseException:
        _flush_after_failure(metrics, context, spec.name)
        raise
    finally:
        _SCOPE.reset(token)
    metrics.flush()
    if persist and spec.kind is StepKind.PERSIST:
        store.save_persisted(spec.name, context.trial_id, context.store.codec.dump(result))
    check_purity(store, spec, args, kwargs, result, seed, inputs)
    return result


def _flush_after_failure(metrics: MetricBuffer, context: TrialContext, step: str) -> None:
    # The step's own error is what the user must see; a store error here is only logged.
    try:
        metrics.flush()
    except StoreError:
        logger.exception(
            "Could not save metrics of failed step %s (trial id=%s)", step, context.trial_id
        )
