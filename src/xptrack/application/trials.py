"""Use-cases of a trial's life: start it, record what it makes, finish it.

:class:`TrialRecorder` is the core of xptrack without dask or decorators: a service
that runs its own computations can record trials, metrics, persisted objects and
results in any store with it::

    recorder = TrialRecorder(MemoryBackend().open("service"))
    with recorder.trial({"lr": 0.1}, seed=1) as trial:
        trial.save_metric("loss", epoch=0, value=0.5)
        trial.result = 0.93
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from xptrack.domain.code import CodeContext
from xptrack.domain.environment import EnvironmentSnapshot, unified_diff
from xptrack.domain.errors import NotFoundError
from xptrack.domain.metric import check_epoch, check_metric_value
from xptrack.domain.names import validate_name
from xptrack.domain.seeding import SEED_LIMIT, check_seed
from xptrack.domain.trial import TrialRecord, utcnow
from xptrack.domain.user_objects import dump_user_object
from xptrack.ports.environment import EnvironmentProbe
from xptrack.ports.repositories import ExperimentStore

logger = logging.getLogger("xptrack.experiment")

#: How far back to look for the previous trial's code or environment (ids may have gaps).
_LOOKBACK = 20


def resolve_seed(given: int | None, default: int | None = None) -> int:
    """The seed a trial runs with: the one given, else the experiment's, else a new one."""
    seed = check_seed(given) if given is not None else check_seed(default)
    if seed is not None:
        logger.info("Random seed is initialized with given seed: %s", seed)
        return int(seed)
    generated = random.SystemRandom().randrange(SEED_LIMIT)
    logger.info("Random seed is not provided, initialized with generated seed: %s", generated)
    return generated


class ActiveTrial:
    """A trial being run: what a step or an embedding service records into."""

    def __init__(self, recorder: TrialRecorder, record: TrialRecord) -> None:
        self._recorder = recorder
        self.record = record
        self.result: Any = None
        self._started = time.perf_counter()

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
        """Buffer one point of metric ``key`` (written in batches)."""
        validate_name(key, "metric key")
        point = (check_epoch(epoch), check_metric_value(value))
        with self._recorder.metrics_lock:
            self._recorder.metrics.add(self.trial_id, key, *point)

    def persist(self, step: str, value: Any) -> None:
        """Store ``value`` as the output of ``step`` in this trial."""
        validate_name(step, "step name")
        self._recorder.store.save_persisted(step, self.trial_id, dump_user_object(value))


class TrialRecorder:
    """Records the trials of one experiment in ``store``."""

    def __init__(self, store: ExperimentStore, probe: EnvironmentProbe | None = None) -> None:
        from xptrack.application.runtime import MetricBuffer

        self.store = store
        self.probe = probe
        # Points saved through ActiveTrial.save_metric (a service's threads may share it).
        self.metrics = MetricBuffer(store)
        self.metrics_lock = threading.Lock()
        self._lock = threading.Lock()
        self._previous_code: str | None = None
        self._previous_environment: EnvironmentSnapshot | None = None

    @contextmanager
    def trial(
        self,
        parameters: Mapping[str, Any],
        seed: int | None = None,
        code: CodeContext | None = None,
    ) -> Iterator[ActiveTrial]:
        """Run a trial: recorded as succeeded with ``trial.result``, or failed with the error
        that left the block (re-raised)."""
        active = self.start(parameters, resolve_seed(seed), code)
        try:
            yield active
        except BaseException as error:
            self.fail(active, error)
            raise
        self.succeed(active, active.result)

    def start(
        self, parameters: Mapping[str, Any], seed: int, code: CodeContext | None = None
    ) -> ActiveTrial:
        """Allocate an id and record the trial as running, with its code and environment."""
        # An unstorable parameter fails save_trial before the trial is announced or run;
        # its id stays unused (ids may have gaps, never repeats).
        trial_id = self.store.next_trial_id()
        record = TrialRecord(trial_id, dict(parameters), utcnow(), seed=seed)
        self.store.save_trial(record)
        logger.info("Started Experiment (trial id=%s)", trial_id)
        if code is not None:
            self._record_code(trial_id, code)
        if self.probe is not None:
            self._record_environment(trial_id, self.probe.capture())
        return ActiveTrial(self, record)

    def succeed(self, active: ActiveTrial, result: Any) -> TrialRecord:
        """Record ``result``: the trial is a success."""
        with self.metrics_lock:
            self.metrics.flush()
        record = active.record.succeeded(result, utcnow(), active.elapsed)
        self.store.save_trial(record)
        active.record = record
        logger.info("Finished Experiment (trial id=%s)", active.trial_id)
        return record

    def fail(self, active: ActiveTrial, error: BaseException) -> TrialRecord:
        """Record ``error``: the trial failed (its metrics so far are kept)."""
        try:
            with self.metrics_lock:
                self.metrics.flush()
        finally:
            record = active.record.failed(error, utcnow(), active.elapsed)
            self.store.save_trial(record)
            active.record = record
        logger.error("Failed Experiment (trial id=%s): %s", active.trial_id, record.description)
        return record

    # --- code and environment, with change warnings ----------------------------------------

    def _record_code(self, trial_id: int, code: CodeContext) -> None:
        text = code.text
        self.store.save_code(trial_id, text)
        with self._lock:
            previous = self._previous_code
            if previous is None:
                previous = self._find_previous(trial_id, self.store.load_code)
            self._previous_code = text
        if previous is not None and previous != text:
            diff = unified_diff(previous, text, "code")
            for step in code.changed_steps(previous) or ["(removed steps)"]:
                logger.warning("Code context has been changed: %s\n%s", step, diff)

    def _record_environment(self, trial_id: int, snapshot: EnvironmentSnapshot) -> None:
        self.store.save_environment(trial_id, snapshot)
        with self._lock:
            previous = self._previous_environment
            if previous is None:
                previous = self._find_previous(trial_id, self.store.load_environment)
            self._previous_environment = snapshot
        if previous is not None:
            for category, diff in snapshot.changes_since(previous).items():
                logger.warning("Environment has been changed: %s\n%s", category, diff)

    @staticmethod
    def _find_previous(trial_id: int, load: Any) -> Any:
        for earlier in range(trial_id - 1, max(0, trial_id - 1 - _LOOKBACK), -1):
            try:
                return load(earlier)
            except NotFoundError:
                continue
        return None
