"""A trial's life in a store: start it, keep it alive, record how it ended.

:class:`TrialRecorder` is the one place that writes a trial's record: the trial runner
(``compute()``, ``run_trials``, the command line) starts and ends every trial through it,
and a service that runs its own computations records trials with it directly::

    recorder = TrialRecorder(MemoryBackend().open("service"))
    with recorder.trial({"lr": 0.1}, seed=1) as trial:
        trial.save_metric("loss", epoch=0, value=0.5)
        trial.result = 0.93

While a trial runs, its heartbeat is renewed from the process's ticker thread; a trial
whose result cannot be stored is recorded as failed, saying why, and nothing else fails.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import attrs

from xptrack.application.bootstrap import user_object_codec
from xptrack.application.capture import capturing
from xptrack.application.changes import ChangeLog
from xptrack.application.heartbeat import heartbeat_interval
from xptrack.application.metrics import MetricBuffer
from xptrack.application.runtime import StepTrace, format_error
from xptrack.application.ticker import TICKER, Job
from xptrack.domain.code import CodeContext
from xptrack.domain.errors import StoreError, UnstorableValue
from xptrack.domain.names import validate_name
from xptrack.domain.seeding import SEED_LIMIT, check_seed
from xptrack.domain.trial import StepRecord, TrialRecord, TrialStatus, utcnow
from xptrack.ports.environment import EnvironmentProbe
from xptrack.ports.repositories import ExperimentStore
from xptrack.ports.user_objects import UserObjectCodec

logger = logging.getLogger("xptrack.experiment")


def resolve_seed(given: int | None, default: int | None = None, quiet: bool = False) -> int:
    """The seed a trial runs with: the one given, else the experiment's, else a new one
    (``quiet``: logged at DEBUG, as in a sweep)."""
    seed = check_seed(given) if given is not None else check_seed(default)
    level = logging.DEBUG if quiet else logging.INFO
    if seed is not None:
        logger.log(level, "Random seed is initialized with given seed: %s", seed)
        return seed
    generated = random.SystemRandom().randrange(SEED_LIMIT)
    logger.log(level, "Random seed is not provided, initialized with generated seed: %s", generated)
    return generated


class ActiveTrial:
    """A trial being run: what an embedding service records into."""

    def __init__(self, recorder: TrialRecorder, record: TrialRecord, quiet: bool = False) -> None:
        self.record = record
        #: Started/Finished lines at DEBUG (a sweep reports progress instead).
        self.log_level = logging.DEBUG if quiet else logging.INFO
        self.result: Any = None
        #: The error that failed the trial, once it has.
        self.error: BaseException | None = None
        self.metrics = MetricBuffer(recorder.store)
        self._recorder = recorder
        self._started = time.perf_counter()
        #: Held while the record is written: a heartbeat never lands after the final record.
        self.lock = threading.Lock()
        self.ended = False

    @property
    def trial_id(self) -> int:
        return self.record.trial_id

    @property
    def seed(self) -> int:
        return self.record.seed if self.record.seed is not None else 0

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._started

    def save_metric(self, key: str, epoch: int, value: float) -> None:
        """Buffer one point of metric ``key`` (written in batches, at least every second)."""
        self.metrics.add(self.trial_id, key, epoch, value)

    def persist(self, step: str, value: Any) -> None:
        """Store ``value`` as the output of ``step`` in this trial."""
        validate_name(step, "step name")
        self._recorder.store.save_persisted(step, self.trial_id, self._recorder.codec.dump(value))


class TrialRecorder:
    """Records the trials of one experiment in ``store``."""

    def __init__(
        self,
        store: ExperimentStore,
        probe: EnvironmentProbe | None = None,
        codec: UserObjectCodec | None = None,
    ) -> None:
        self.store = store
        self.probe = probe
        #: How users' objects (results, persisted outputs) are stored: the root's by default.
        self.codec = codec if codec is not None else user_object_codec()
        self._changes = ChangeLog(store)
        self._heartbeats = _Heartbeats(store)

    @contextmanager
    def trial(
        self,
        parameters: Mapping[str, Any],
        seed: int | None = None,
        code: CodeContext | None = None,
    ) -> Iterator[ActiveTrial]:
        """Run a trial: recorded as finished with ``trial.result``, or failed with the error
        that left the block (re-raised). What the block prints and logs is its output."""
        active = self.start(parameters, resolve_seed(seed), code)
        with capturing() as captured:
            try:
                yield active
            except BaseException as error:
                self.fail(active, error, format_error(error), output=captured.text())
                raise
        record = self.succeed(active, active.result, output=captured.text())
        if record.status is TrialStatus.FAILED:
            raise UnstorableValue(f"trial {active.trial_id} failed: {record.description}")

    def start(
        self,
        parameters: Mapping[str, Any],
        seed: int,
        code: CodeContext | None = None,
        quiet: bool = False,
    ) -> ActiveTrial:
        """Allocate an id and record the trial as running, with its code and environment
        (``quiet``: its Started/Finished lines at DEBUG, as in a sweep)."""
        # The environment first, so that the record, code and environment are saved together.
        snapshot = None if self.probe is None else self._changes.capture(self.probe)
        # An unstorable parameter fails save_trial_start before the trial is announced or run;
        # its id stays unused (ids may have gaps, never repeats).
        trial_id = self.store.next_trial_id()
        now = utcnow()
        record = TrialRecord(
            trial_id, self.codec.seal(dict(parameters)), now, seed=seed, heartbeat=now
        )
        self.store.save_trial_start(record, None if code is None else code.text, snapshot)
        active = ActiveTrial(self, record, quiet)
        self._heartbeats.add(active)
        active.metrics.__enter__()
        logger.log(active.log_level, "Started Experiment (trial id=%s)", trial_id)
        if code is not None:
            self._changes.code_saved(trial_id, code)
        if snapshot is not None:
            self._changes.environment_saved(trial_id, snapshot)
        return active

    def succeed(
        self,
        active: ActiveTrial,
        result: Any,
        traces: Iterable[StepTrace] = (),
        output: str = "",
    ) -> TrialRecord:
        """Record ``result``: the trial finished. A result (or metrics) that cannot be stored
        makes it a failed trial instead, with the reason; nothing is raised for that."""
        traces = list(traces)
        try:
            active.metrics.flush()
            record = active.record.succeeded(result, utcnow(), _process_time(active, traces))
            self._end(active, record, traces, output)
        except Exception as error:
            storing = not isinstance(error, StoreError) or isinstance(error, UnstorableValue)
            reason = _unstorable(error) if storing else error
            return self.fail(active, reason, format_error(reason), traces, output)
        logger.log(active.log_level, "Finished Experiment (trial id=%s)", active.trial_id)
        return record

    def fail(
        self,
        active: ActiveTrial,
        error: BaseException,
        traceback: str | None = None,
        traces: Iterable[StepTrace] = (),
        output: str = "",
    ) -> TrialRecord:
        """Record ``error``: the trial failed (its metrics so far are kept). A store error
        while recording it is logged, not raised: the trial's own error is what matters."""
        traces = list(traces)
        active.error = error
        try:
            active.metrics.flush()
        except StoreError:
            logger.exception("Could not save metrics of failed trial %s", active.trial_id)
        record = active.record.failed(error, utcnow(), _process_time(active, traces), traceback)
        try:
            self._end(active, record, traces, output)
        except Exception:
            logger.exception("Could not record the failure of trial %s", active.trial_id)
        logger.error("Failed Experiment (trial id=%s): %s", active.trial_id, record.description)
        return record

    def _end(
        self, active: ActiveTrial, record: TrialRecord, traces: list[StepTrace], output: str
    ) -> None:
        steps = _steps(traces) or record.steps
        record = attrs.evolve(record, result=self.codec.seal(record.result), steps=steps)
        text = output + "".join(t.output for t in sorted(traces, key=_started))
        with active.lock:
            if text:
                self.store.save_output(active.trial_id, text)
            self.store.save_trial(record)  # the last write of the trial: it has ended
            active.ended = True
        active.record = record
        active.metrics.__exit__(None, None, None)
        self._heartbeats.remove(active)


def _started(trace: StepTrace) -> Any:
    return trace.record.started


def _steps(traces: list[StepTrace]) -> tuple[StepRecord, ...]:
    return tuple(trace.record for trace in sorted(traces, key=_started))


def _process_time(active: ActiveTrial, traces: list[StepTrace]) -> float:
    """The trial's own process time: from its first step's start to its last step's end
    (in a sweep, not the time it waited for a free worker); the block's time without steps."""
    if not traces:
        return active.elapsed
    start = min(trace.record.started for trace in traces)
    end = max(trace.record.finished for trace in traces)
    return (end - start).total_seconds()


def _unstorable(error: Exception) -> UnstorableValue:
    said = str(error) if isinstance(error, UnstorableValue) else f"{type(error).__name__}: {error}"
    wrapped = UnstorableValue(f"the trial's result could not be stored: {said}")
    wrapped.__cause__ = error
    return wrapped


class _Heartbeats:
    """The running trials of one recorder, renewed every heartbeat interval."""

    def __init__(self, store: ExperimentStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._active: dict[int, ActiveTrial] = {}
        self._job: Job | None = None

    def add(self, active: ActiveTrial) -> None:
        with self._lock:
            self._active[active.trial_id] = active
            if self._job is None:
                interval = heartbeat_interval().total_seconds()
                self._job = TICKER.every(interval, self._renew)

    def remove(self, active: ActiveTrial) -> None:
        with self._lock:
            self._active.pop(active.trial_id, None)
            if not self._active and self._job is not None:
                self._job.cancel()
                self._job = None

    def _renew(self) -> None:
        with self._lock:
            running = list(self._active.values())
        for active in running:
            with active.lock:
                if active.ended:
                    continue
                record = active.record.renewed(utcnow())
                try:
                    self._store.save_trial(record)
                except StoreError:
                    logger.warning("Could not renew the heartbeat of trial %s", active.trial_id)
                    continue
                active.record = record
