"""Repositories: the smallest abstract core every xptrack store provides.

A store holds one experiment. Each method's docstring states its guarantee; the
contract suite in :mod:`xptrack.testing` checks every one of them on every store.
Ids, step names and metric keys reaching a store are already validated.
"""

from __future__ import annotations

import abc
from collections.abc import Hashable, Sequence
from typing import Any

from xptrack.domain.environment import EnvironmentSnapshot
from xptrack.domain.errors import NotFoundError
from xptrack.domain.labels import LabelChange
from xptrack.domain.metric import MetricSeries
from xptrack.domain.step_cache import CachedOutput
from xptrack.domain.trial import TrialRecord
from xptrack.domain.trial_columns import TrialColumns


class TrialRepository(abc.ABC):
    """Trial ids and trial records."""

    @abc.abstractmethod
    def next_trial_id(self) -> int:
        """Atomically allocate a new id: increasing, never reused, unique across processes."""

    @abc.abstractmethod
    def last_trial_id(self) -> int:
        """The highest id allocated so far (0 when none)."""

    def reserve_trial_ids(self, at_least: int) -> None:
        """Afterwards ``last_trial_id() >= at_least``; ids below it are never handed out."""
        # Correct on any store (the counter is atomic); a store may do it in one step.
        while self.last_trial_id() < at_least:
            self.next_trial_id()

    @abc.abstractmethod
    def save_trial(self, record: TrialRecord) -> None:
        """Store ``record`` under its id (one ``next_trial_id`` gave), replacing any earlier
        version (idempotent); never changes the trial's tags and note."""

    @abc.abstractmethod
    def get_trial(self, trial_id: int) -> TrialRecord:
        """The record of ``trial_id`` with its tags and note; NotFoundError when none was saved."""

    def list_trials(self) -> list[TrialRecord]:
        """Every saved record with its tags and note, ordered by trial id."""
        # One read per id: correct on any store; a store overrides it with a bounded number
        # of round trips (history is read often).
        records = []
        for trial_id in range(1, self.last_trial_id() + 1):
            try:
                records.append(self.get_trial(trial_id))
            except NotFoundError:
                continue
        return records

    def update_labels(
        self,
        trial_id: int,
        add_tags: Sequence[str] = (),
        remove_tags: Sequence[str] = (),
        note: str | None = None,
    ) -> None:
        """Atomically add, then remove tags (kept sorted, each once) and replace the note unless
        None; NotFoundError when no record of ``trial_id`` was saved."""
        self.change_labels(trial_id, LabelChange(add_tags, remove_tags, note))

    @abc.abstractmethod
    def change_labels(self, trial_id: int, change: LabelChange) -> None:
        """Atomically apply ``change`` to the labels of ``trial_id`` (``change.applied_to``);
        NotFoundError when no record of ``trial_id`` was saved."""

    @abc.abstractmethod
    def delete_trial(self, trial_id: int) -> None:
        """Remove everything kept for ``trial_id`` (idempotent); its id is never given again."""

    def trial_columns(self, verbose: bool = False) -> TrialColumns:
        """Every saved trial as the columns of a history table, ordered by trial id (with
        ``verbose`` also seeds and start times). Made from :meth:`list_trials` unless the store
        can give them without building a record per trial (the JSON stores do)."""
        return TrialColumns.from_records(self.list_trials())


class MetricRepository(abc.ABC):
    """Metric series per trial and key."""

    @abc.abstractmethod
    def append_metrics(self, batch: Sequence[tuple[int, str, MetricSeries]]) -> None:
        """Append each (trial id, key, points) in order; the whole batch travels together."""

    @abc.abstractmethod
    def load_metric(self, trial_id: int, key: str) -> MetricSeries:
        """All points of ``key`` in ``trial_id`` in append order; NotFoundError when none."""

    @abc.abstractmethod
    def metric_keys(self, trial_id: int) -> list[str]:
        """The sorted keys ``trial_id`` saved points under (empty when none)."""


class PersistedRepository(abc.ABC):
    """Outputs of ``@ex.persist`` steps, as opaque bytes."""

    @abc.abstractmethod
    def save_persisted(self, step: str, trial_id: int, data: bytes) -> None:
        """Store ``data`` for (step, trial), replacing any earlier bytes (idempotent, atomic)."""

    @abc.abstractmethod
    def load_persisted(self, step: str, trial_id: int) -> bytes:
        """The bytes saved for (step, trial); NotFoundError when none."""

    @abc.abstractmethod
    def list_persisted(self, trial_id: int) -> list[str]:
        """The sorted steps ``trial_id`` saved an output for (empty when none)."""


class StepHashRepository(abc.ABC):
    """Output hashes per step and input hash, for the purity check."""

    @abc.abstractmethod
    def swap_step_hash(self, step: str, input_hash: str, output_hash: str) -> str | None:
        """Atomically store ``output_hash`` and return the hash stored before (None when new)."""


class StepCacheRepository(abc.ABC):
    """Reusable outputs of ``cache=True`` steps, as opaque bytes, one entry per cache key.

    Keys are 64 lowercase hex digits (:func:`xptrack.domain.step_cache.step_cache_key`).
    An entry is written once and never replaced, so concurrent trials that compute the
    same output each offer it, one of them is kept, and every reader sees that one.
    ``delete_trial`` removes the entries that trial made (a later trial computes them anew).
    """

    @abc.abstractmethod
    def add_cached_output(self, step: str, key: str, output: CachedOutput) -> bool:
        """Store ``output`` under (step, key) unless an entry is there (first writer wins, atomic:
        readers see a whole entry or none); True when this call stored it."""

    @abc.abstractmethod
    def load_cached_output(self, step: str, key: str) -> CachedOutput | None:
        """The whole entry stored under (step, key), or None when there is none."""


class CodeRepository(abc.ABC):
    """The code context of each trial."""

    @abc.abstractmethod
    def save_code(self, trial_id: int, text: str) -> None:
        """Store the code text of ``trial_id``, replacing any earlier one (idempotent)."""

    @abc.abstractmethod
    def load_code(self, trial_id: int) -> str:
        """The code text of ``trial_id``; NotFoundError when none."""


class EnvironmentRepository(abc.ABC):
    """The environment each trial ran in."""

    @abc.abstractmethod
    def save_environment(self, trial_id: int, snapshot: EnvironmentSnapshot) -> None:
        """Store ``snapshot`` for ``trial_id``, replacing any earlier one whole (idempotent)."""

    @abc.abstractmethod
    def load_environment(self, trial_id: int) -> EnvironmentSnapshot:
        """The snapshot saved for ``trial_id``; NotFoundError when none."""


class OutputRepository(abc.ABC):
    """What each trial's steps printed and logged, kept apart from the trial record."""

    @abc.abstractmethod
    def save_output(self, trial_id: int, text: str) -> None:
        """Store the captured output of ``trial_id``, replacing any earlier one (idempotent)."""

    @abc.abstractmethod
    def load_output(self, trial_id: int) -> str:
        """The captured output of ``trial_id``; NotFoundError when none was saved."""


class ExperimentStore(
    TrialRepository,
    MetricRepository,
    PersistedRepository,
    StepHashRepository,
    StepCacheRepository,
    CodeRepository,
    EnvironmentRepository,
    OutputRepository,
):
    """Every repository of one experiment in one store; what an adapter implements."""

    def save_trial_start(
        self,
        record: TrialRecord,
        code: str | None = None,
        environment: EnvironmentSnapshot | None = None,
    ) -> None:
        """Store a starting trial: ``save_trial(record)``, then ``save_code`` and
        ``save_environment`` of its id for those given, with their guarantees. Nothing is
        stored when ``record`` is unstorable. A store may write the three in one atomic step
        (Redis does: one round trip); otherwise a reader may see the record a moment before
        its code and environment."""
        # In order, each with its own guarantee: correct on any store.
        self.save_trial(record)
        if code is not None:
            self.save_code(record.trial_id, code)
        if environment is not None:
            self.save_environment(record.trial_id, environment)

    @abc.abstractmethod
    def delete_experiment(self) -> None:
        """Remove everything of this experiment, and nothing of anything else."""

    def close(self) -> None:
        """Release connections and files (the store may be reopened by its backend)."""


class Backend(abc.ABC):
    """Where experiments live. Holds configuration only, never a live connection,
    so that it pickles to dask workers, which open their own stores from it.

    Two backends are equal when they are of one class with equal :meth:`configuration`,
    and an unpickled copy equals (and hashes like) the original: each process keeps one
    store per backend and experiment, keyed by that identity.
    """

    @classmethod
    def from_driver(cls, driver: Any) -> Backend | None:
        """The backend a driver object (a connection pool, a database handle) of this
        adapter's technology names; None when ``driver`` is not one of them."""
        return None

    def configuration(self) -> Hashable:
        """What makes this backend this one; by default every attribute (``vars(self)``),
        which must then hash. Override it when an attribute is a live object or a cache."""
        return tuple(sorted(vars(self).items()))

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Backend)
        return self.configuration() == other.configuration()

    def __hash__(self) -> int:
        return hash((type(self).__qualname__, self.configuration()))

    @property
    @abc.abstractmethod
    def location(self) -> str:
        """Where the data lives, for people: a path or a URI with any password redacted."""

    @abc.abstractmethod
    def open(self, experiment_id: str) -> ExperimentStore:
        """A store for ``experiment_id`` (created empty if new); StoreUnavailable if unreachable."""

    @abc.abstractmethod
    def list_experiments(self) -> list[str]:
        """The sorted ids of the experiments opened in this backend and not deleted since."""

    def delete_experiment(self, experiment_id: str) -> None:
        """Remove everything of ``experiment_id`` (idempotent), and nothing of anything else."""
        store = self.open(experiment_id)
        try:
            store.delete_experiment()
        finally:
            store.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"
