"""The model: every port's guarantee written as the plainest Python that keeps it.

:class:`ModelStore` is what every store must behave like. It keeps the very objects
it was given (no serialization, no I/O), so it cannot lose a NaN, a tuple or a
timezone; the contract suite calls a store and the model alike and compares answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import attrs

from xptrack.domain.environment import EnvironmentSnapshot
from xptrack.domain.errors import NotFoundError
from xptrack.domain.labels import LabelChange, TrialLabels
from xptrack.domain.metric import MetricSeries
from xptrack.domain.step_cache import CachedOutput
from xptrack.domain.trial import TrialRecord
from xptrack.ports.not_found import no_metric, no_persisted, no_text, no_trial
from xptrack.ports.repositories import ExperimentStore

K = TypeVar("K")
V = TypeVar("V")


class ModelStore(ExperimentStore):
    """The reference store of the contract suite: dicts, nothing else."""

    def __init__(self) -> None:
        self.delete_experiment()

    def delete_experiment(self) -> None:
        # A deleted experiment is a new one: its next trial is 1 again.
        self.last_id = 0
        self.trials: dict[int, TrialRecord] = {}
        self.labels: dict[int, TrialLabels] = {}
        self.metrics: dict[tuple[int, str], MetricSeries] = {}
        self.persisted: dict[tuple[str, int], bytes] = {}
        self.step_hashes: dict[tuple[str, str], str] = {}
        self.cached_outputs: dict[tuple[str, str], CachedOutput] = {}
        self.code: dict[int, str] = {}
        self.environments: dict[int, EnvironmentSnapshot] = {}
        self.outputs: dict[int, str] = {}

    def next_trial_id(self) -> int:
        self.last_id += 1
        return self.last_id

    def last_trial_id(self) -> int:
        return self.last_id

    def save_trial(self, record: TrialRecord) -> None:
        # The labels a record carries are not the store's: they are kept apart.
        self.trials[record.trial_id] = attrs.evolve(record, tags=(), note="")

    def get_trial(self, trial_id: int) -> TrialRecord:
        record = _found(self.trials, trial_id, no_trial(trial_id))
        labels = self.labels.get(trial_id, TrialLabels())
        return attrs.evolve(record, tags=labels.tags, note=labels.note)

    def list_trials(self) -> list[TrialRecord]:
        return [self.get_trial(trial_id) for trial_id in sorted(self.trials)]

    def change_labels(self, trial_id: int, change: LabelChange) -> None:
        _found(self.trials, trial_id, no_trial(trial_id))
        labels = self.labels.get(trial_id, TrialLabels())
        tags = sorted((set(labels.tags) | set(change.add_tags)) - set(change.remove_tags))
        note = labels.note if change.note is None else change.note
        self.labels[trial_id] = TrialLabels(tuple(tags), note)

    def delete_trial(self, trial_id: int) -> None:
        self.trials.pop(trial_id, None)
        self.labels.pop(trial_id, None)
        self.code.pop(trial_id, None)
        self.environments.pop(trial_id, None)
        self.outputs.pop(trial_id, None)
        self.metrics = {key: s for key, s in self.metrics.items() if key[0] != trial_id}
        self.persisted = {key: b for key, b in self.persisted.items() if key[1] != trial_id}
        self.cached_outputs = {
            key: o for key, o in self.cached_outputs.items() if o.trial_id != trial_id
        }

    def append_metrics(self, batch: Sequence[tuple[int, str, MetricSeries]]) -> None:
        for trial_id, key, points in batch:
            if len(points):  # no points, nothing saved: the key stays unknown
                self.metrics.setdefault((trial_id, key), MetricSeries()).extend(points)

    def load_metric(self, trial_id: int, key: str) -> MetricSeries:
        series = _found(self.metrics, (trial_id, key), no_metric(trial_id, key))
        return MetricSeries(list(series.epochs), list(series.values))

    def metric_keys(self, trial_id: int) -> list[str]:
        return sorted(key for (owner, key) in self.metrics if owner == trial_id)

    def save_persisted(self, step: str, trial_id: int, data: bytes) -> None:
        self.persisted[(step, trial_id)] = bytes(data)

    def load_persisted(self, step: str, trial_id: int) -> bytes:
        return _found(self.persisted, (step, trial_id), no_persisted(step, trial_id))

    def list_persisted(self, trial_id: int) -> list[str]:
        return sorted(step for (step, owner) in self.persisted if owner == trial_id)

    def swap_step_hash(self, step: str, input_hash: str, output_hash: str) -> str | None:
        previous = self.step_hashes.get((step, input_hash))
        self.step_hashes[(step, input_hash)] = output_hash
        return previous

    def add_cached_output(self, step: str, key: str, output: CachedOutput) -> bool:
        if (step, key) in self.cached_outputs:
            return False
        self.cached_outputs[(step, key)] = output
        return True

    def load_cached_output(self, step: str, key: str) -> CachedOutput | None:
        return self.cached_outputs.get((step, key))

    def save_code(self, trial_id: int, text: str) -> None:
        self.code[trial_id] = text

    def load_code(self, trial_id: int) -> str:
        return _found(self.code, trial_id, no_text("code", trial_id))

    def save_environment(self, trial_id: int, snapshot: EnvironmentSnapshot) -> None:
        self.environments[trial_id] = snapshot

    def load_environment(self, trial_id: int) -> EnvironmentSnapshot:
        return _found(self.environments, trial_id, no_text("environment", trial_id))

    def save_output(self, trial_id: int, text: str) -> None:
        self.outputs[trial_id] = text

    def load_output(self, trial_id: int) -> str:
        return _found(self.outputs, trial_id, no_text("output", trial_id))


def _found(mapping: dict[K, V], key: K, missing: NotFoundError) -> V:
    try:
        return mapping[key]
    except KeyError:
        raise missing from None
