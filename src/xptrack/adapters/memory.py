"""The in-memory store: a real implementation of every port, kept in one process.

It is what unit tests and embedding services use when nothing must outlive the
process. Records go through the same serialization as the persistent stores, so a
value the memory store accepts is one every store accepts. Threads may share it;
processes may not (each process would see its own empty copy).
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from collections.abc import Hashable, Sequence
from functools import partial
from typing import ClassVar

from xptrack.adapters.serialization import (
    decode_metric_chunks,
    labelled,
    metric_rows,
    read_trial_isolated,
    trial_from_json,
    trial_to_json,
)
from xptrack.domain.environment import EnvironmentSnapshot
from xptrack.domain.errors import StoreError
from xptrack.domain.labels import LabelChange, TrialLabels
from xptrack.domain.metric import MetricSeries
from xptrack.domain.step_cache import CachedOutput
from xptrack.domain.step_hash import StepHash
from xptrack.domain.trial import TrialRecord
from xptrack.ports.not_found import no_metric, no_persisted, no_text, no_trial
from xptrack.ports.repositories import Backend, ExperimentStore


class MemoryExperimentStore(ExperimentStore):
    """One experiment's records in dicts guarded by a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._last_id = 0
        self._trials: dict[int, str] = {}
        self._labels: dict[int, TrialLabels] = {}
        self._metrics: dict[tuple[int, str], list[str]] = defaultdict(list)
        self._persisted: dict[tuple[str, int], bytes] = {}
        self._step_hashes: dict[str, str] = {}
        self._cached_outputs: dict[tuple[str, str], CachedOutput] = {}
        self._code: dict[int, str] = {}
        self._environments: dict[int, dict[str, str]] = {}
        self._outputs: dict[int, str] = {}

    def next_trial_id(self) -> int:
        with self._lock:
            self._last_id += 1
            return self._last_id

    def last_trial_id(self) -> int:
        return self._last_id

    def save_trial(self, record: TrialRecord) -> None:
        text = trial_to_json(record)
        with self._lock:
            self._trials[record.trial_id] = text

    def get_trial(self, trial_id: int) -> TrialRecord:
        with self._lock:
            text, labels = self._trials.get(trial_id), self._labels.get(trial_id)
        if text is None:
            raise no_trial(trial_id)
        return labelled(trial_from_json(text), labels)

    def list_trials(self) -> list[TrialRecord]:
        with self._lock:
            saved = [(i, self._trials[i], self._labels.get(i)) for i in sorted(self._trials)]
        return [
            labelled(read_trial_isolated(i, partial(trial_from_json, text)), labels)
            for i, text, labels in saved
        ]

    def change_labels(self, trial_id: int, change: LabelChange) -> None:
        with self._lock:
            if trial_id not in self._trials:
                raise no_trial(trial_id)
            labels = self._labels.get(trial_id, TrialLabels())
            self._labels[trial_id] = change.applied_to(labels)

    def delete_trial(self, trial_id: int) -> None:
        with self._lock:
            self._trials.pop(trial_id, None)
            self._labels.pop(trial_id, None)
            self._code.pop(trial_id, None)
            self._environments.pop(trial_id, None)
            self._outputs.pop(trial_id, None)
            for metric in [key for key in self._metrics if key[0] == trial_id]:
                del self._metrics[metric]
            for output in [key for key in self._persisted if key[1] == trial_id]:
                del self._persisted[output]
            for entry in [k for k, o in self._cached_outputs.items() if o.trial_id == trial_id]:
                del self._cached_outputs[entry]

    def append_metrics(self, batch: Sequence[tuple[int, str, MetricSeries]]) -> None:
        chunks = metric_rows(batch)
        with self._lock:
            for trial_id, key, chunk in chunks:
                self._metrics[(trial_id, key)].append(chunk)

    def load_metric(self, trial_id: int, key: str) -> MetricSeries:
        with self._lock:
            chunks = list(self._metrics.get((trial_id, key), ()))
        if not chunks:
            raise no_metric(trial_id, key)
        return decode_metric_chunks(chunks)

    def metric_keys(self, trial_id: int) -> list[str]:
        with self._lock:
            return sorted(key for (tid, key) in self._metrics if tid == trial_id)

    def save_persisted(self, step: str, trial_id: int, data: bytes) -> None:
        with self._lock:
            self._persisted[(step, trial_id)] = bytes(data)

    def load_persisted(self, step: str, trial_id: int) -> bytes:
        try:
            return self._persisted[(step, trial_id)]
        except KeyError:
            raise no_persisted(step, trial_id) from None

    def list_persisted(self, trial_id: int) -> list[str]:
        with self._lock:
            return sorted(step for (step, owner) in self._persisted if owner == trial_id)

    def swap_step_hash(self, step: str, input_hash: str, output_hash: str) -> str | None:
        with self._lock:
            key = StepHash(step, input_hash, output_hash).key
            previous = self._step_hashes.get(key)
            self._step_hashes[key] = output_hash
            return previous

    def add_cached_output(self, step: str, key: str, output: CachedOutput) -> bool:
        entry = CachedOutput(output.trial_id, bytes(output.data))
        with self._lock:
            return self._cached_outputs.setdefault((step, key), entry) is entry

    def load_cached_output(self, step: str, key: str) -> CachedOutput | None:
        return self._cached_outputs.get((step, key))

    def save_code(self, trial_id: int, text: str) -> None:
        with self._lock:
            self._code[trial_id] = text

    def load_code(self, trial_id: int) -> str:
        try:
            return self._code[trial_id]
        except KeyError:
            raise no_text("code", trial_id) from None

    def save_environment(self, trial_id: int, snapshot: EnvironmentSnapshot) -> None:
        with self._lock:
            self._environments[trial_id] = dict(snapshot.categories)

    def load_environment(self, trial_id: int) -> EnvironmentSnapshot:
        try:
            return EnvironmentSnapshot(self._environments[trial_id])
        except KeyError:
            raise no_text("environment", trial_id) from None

    def save_output(self, trial_id: int, text: str) -> None:
        with self._lock:
            self._outputs[trial_id] = text

    def load_output(self, trial_id: int) -> str:
        try:
            return self._outputs[trial_id]
        except KeyError:
            raise no_text("output", trial_id) from None

    def delete_experiment(self) -> None:
        with self._lock:
            self._reset()


class MemoryBackend(Backend):
    """Experiments kept in this process only; ``MemoryBackend('name')`` shares one namespace.

    Two ``MemoryBackend`` objects with the same name see the same experiments, so a
    backend that was pickled and unpickled in the same process (dask's threaded
    scheduler) finds its data again.
    """

    _namespaces: ClassVar[dict[str, dict[str, MemoryExperimentStore]]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, name: str = "default") -> None:
        # Also the URI convention of every backend: MemoryBackend("memory://name").
        if "://" in name:
            name = name.partition("://")[2] or "default"
        self.name = name
        self._pid = os.getpid()

    @property
    def location(self) -> str:
        return f"memory://{self.name}"

    def open(self, experiment_id: str) -> MemoryExperimentStore:
        if os.getpid() != self._pid:
            raise StoreError(
                f"{self!r} keeps experiments in the memory of the process that created it; "
                "it cannot be reached from another process (processes or distributed "
                "scheduler): use a local, Redis or MongoDB backend there"
            )
        with self._lock:
            experiments = self._namespaces.setdefault(self.name, {})
            store = experiments.get(experiment_id)
            if store is None:
                store = experiments[experiment_id] = MemoryExperimentStore()
            return store

    def list_experiments(self) -> list[str]:
        with self._lock:
            return sorted(self._namespaces.get(self.name, {}))

    def delete_experiment(self, experiment_id: str) -> None:
        with self._lock:
            store = self._namespaces.get(self.name, {}).pop(experiment_id, None)
        if store is not None:
            store.delete_experiment()

    def configuration(self) -> Hashable:
        return self.name
