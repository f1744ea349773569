"""The contract can fail: deliberately broken stores, each caught by the suite.

Each broken store is the memory store with one realistic bug. The state machine
runs against it with fixed (derandomized) generation and no shrinking, so that
these tests are fast and deterministic; a plain contract test must catch the
bugs it is meant for as well.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
import time
from collections.abc import Sequence

import attrs
import pytest
from hypothesis import Phase

from xptrack.adapters.memory import MemoryExperimentStore
from xptrack.adapters.serialization import trial_from_json
from xptrack.domain.environment import EnvironmentSnapshot
from xptrack.domain.errors import NotFoundError
from xptrack.domain.labels import LabelChange, TrialLabels
from xptrack.domain.metric import MetricSeries
from xptrack.domain.step_cache import CachedOutput
from xptrack.domain.trial import TrialRecord
from xptrack.testing import StoreContract, contract_settings, run_store_machine

QUICK = contract_settings(
    max_examples=300,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    report_multiple_bugs=False,
    print_blob=False,
)


class DropsLastMetricPoint(MemoryExperimentStore):
    """Off by one: the last point of each series in a batch is lost."""

    def append_metrics(self, batch: Sequence[tuple[int, str, MetricSeries]]) -> None:
        super().append_metrics(
            [(trial, key, MetricSeries(s.epochs[:-1], s.values[:-1])) for trial, key, s in batch]
        )


class ReusesTrialIds(MemoryExperimentStore):
    """Derives the next id from the trials saved, so an id allocated but not saved yet
    (a trial still starting, or one that crashed) is handed out again."""

    def next_trial_id(self) -> int:
        with self._lock:
            self._last_id = max(self._trials, default=0) + 1
            return self._last_id


class LosesNaNParameters(MemoryExperimentStore):
    """Stores parameters as plain JSON would: a NaN parameter comes back None."""

    def save_trial(self, record: TrialRecord) -> None:
        parameters = {
            name: None if isinstance(value, float) and math.isnan(value) else value
            for name, value in record.parameters.items()
        }
        super().save_trial(attrs.evolve(record, parameters=parameters))


class ListsTrialsInSaveOrder(MemoryExperimentStore):
    """Lists trials in the order they were first saved (a hash's or a collection's natural
    order), not by trial id."""

    def list_trials(self) -> list[TrialRecord]:
        with self._lock:
            texts = list(self._trials.values())
        return [trial_from_json(text) for text in texts]


class IgnoresInputHash(MemoryExperimentStore):
    """Keys step hashes by step alone: two inputs of one step share one hash."""

    def swap_step_hash(self, step: str, input_hash: str, output_hash: str) -> str | None:
        return super().swap_step_hash(step, "", output_hash)


class NormalizesLineEnds(MemoryExperimentStore):
    """Reads code back as a text-mode file does: "\\r\\n" and "\\r" become "\\n"."""

    def load_code(self, trial_id: int) -> str:
        return super().load_code(trial_id).replace("\r\n", "\n").replace("\r", "\n")


class KeepsFirstOutput(MemoryExperimentStore):
    """Saves a trial's output only once (SETNX instead of SET): a second save is lost."""

    def save_output(self, trial_id: int, text: str) -> None:
        try:
            self.load_output(trial_id)
        except NotFoundError:
            super().save_output(trial_id, text)


class RacyTrialIds(MemoryExperimentStore):
    """Reads the counter and writes it back without a lock (GET then SET, not INCR)."""

    def next_trial_id(self) -> int:
        trial_id = self._last_id + 1
        time.sleep(0)  # another caller runs here, as during a network round trip
        self._last_id = trial_id
        return trial_id


class ReplacesCachedOutput(MemoryExperimentStore):
    """Writes cache entries as a plain SET does: the last writer wins, and a reader may get
    an output other than the one a racing writer was told was kept."""

    def add_cached_output(self, step: str, key: str, output: CachedOutput) -> bool:
        with self._lock:
            self._cached_outputs[(step, key)] = output
        return True


class RacyCachedOutput(MemoryExperimentStore):
    """Looks for an entry, then writes it, without a lock (GET then SET, not SET NX).

    The first two writers both look before either writes, as they would across a network
    round trip; a barrier makes that certain, where a short sleep missed it on a busy machine.
    """

    def __init__(self) -> None:
        super().__init__()
        self._both_looked = threading.Barrier(2)

    def add_cached_output(self, step: str, key: str, output: CachedOutput) -> bool:
        if self.load_cached_output(step, key) is not None:
            return False
        with contextlib.suppress(threading.BrokenBarrierError):  # an odd writer out: it writes
            self._both_looked.wait(timeout=5)
        self._cached_outputs[(step, key)] = output
        return True


class CachesByKeyOnly(MemoryExperimentStore):
    """Keys cache entries by the cache key alone: two steps with one key share an entry."""

    def add_cached_output(self, step: str, key: str, output: CachedOutput) -> bool:
        return super().add_cached_output("", key, output)

    def load_cached_output(self, step: str, key: str) -> CachedOutput | None:
        return super().load_cached_output("", key)


class TruncatesBigCachedOutputs(MemoryExperimentStore):
    """Keeps only the first 16 MB of a cached output (one MongoDB document's worth)."""

    def add_cached_output(self, step: str, key: str, output: CachedOutput) -> bool:
        return super().add_cached_output(step, key, attrs.evolve(output, data=output.data[: 2**24]))


class SaveOverwritesLabels(MemoryExperimentStore):
    """Keeps labels inside the record: a runner re-saving its trial wipes a user's tags."""

    def save_trial(self, record: TrialRecord) -> None:
        super().save_trial(record)
        with self._lock:
            self._labels[record.trial_id] = TrialLabels(record.tags, record.note)


class LabelsUnknownTrials(MemoryExperimentStore):
    """Tags a trial that was never saved instead of answering NotFoundError."""

    def change_labels(self, trial_id: int, change: LabelChange) -> None:
        with self._lock:
            labels = self._labels.get(trial_id, TrialLabels())
            self._labels[trial_id] = change.applied_to(labels)


class RacyLabels(MemoryExperimentStore):
    """Reads the labels, then writes them back changed, without a lock."""

    def change_labels(self, trial_id: int, change: LabelChange) -> None:
        current = self._labels.get(trial_id, TrialLabels())
        time.sleep(0)  # another caller runs here, as during a network round trip
        self._labels[trial_id] = change.applied_to(current)


class ReusesDeletedTrialIds(MemoryExperimentStore):
    """Winds the counter back when the last trial is deleted."""

    def delete_trial(self, trial_id: int) -> None:
        super().delete_trial(trial_id)
        with self._lock:
            if trial_id == self._last_id:
                self._last_id -= 1


class DeleteTrialKeepsPersisted(MemoryExperimentStore):
    """Deletes a trial's record and metrics but leaves its persisted outputs behind."""

    def delete_trial(self, trial_id: int) -> None:
        with self._lock:
            kept = {key: data for key, data in self._persisted.items() if key[1] == trial_id}
        super().delete_trial(trial_id)
        with self._lock:
            self._persisted.update(kept)


class KeepsCacheOfDeletedTrials(MemoryExperimentStore):
    """Deletes a trial's records but not the cache entries it made (a later trial would
    reuse an output from a trial that no longer exists)."""

    def delete_trial(self, trial_id: int) -> None:
        with self._lock:
            kept = dict(self._cached_outputs)
        super().delete_trial(trial_id)
        with self._lock:
            self._cached_outputs.update(kept)


class DeleteTrialDropsSharedCode(MemoryExperimentStore):
    """Deletes a trial's code text for every trial holding the same text (a shared text
    dropped while other trials still refer to it)."""

    def delete_trial(self, trial_id: int) -> None:
        with self._lock:
            text = self._code.get(trial_id)
            self._code = {t: code for t, code in self._code.items() if code != text}
        super().delete_trial(trial_id)


class StartWithoutEnvironment(MemoryExperimentStore):
    """Starts a trial with its record and code but forgets its environment."""

    def save_trial_start(
        self,
        record: TrialRecord,
        code: str | None = None,
        environment: EnvironmentSnapshot | None = None,
    ) -> None:
        super().save_trial_start(record, code)


#: Broken store -> the store calls whose answers give it away.
CAUGHT_BY_THE_MACHINE = {
    DropsLastMetricPoint: "load_metric|metric_keys",
    ReusesTrialIds: "next_trial_id",
    LosesNaNParameters: "get_trial|list_trials",
    ListsTrialsInSaveOrder: "list_trials",
    IgnoresInputHash: "swap_step_hash",
    NormalizesLineEnds: "load_code",
    KeepsFirstOutput: "load_output",
    SaveOverwritesLabels: "get_trial|list_trials",
    LabelsUnknownTrials: "update_labels|get_trial",
    ReusesDeletedTrialIds: "next_trial_id|last_trial_id",
    DeleteTrialKeepsPersisted: "load_persisted|list_persisted",
    StartWithoutEnvironment: "load_environment",
}


@pytest.mark.parametrize("broken", CAUGHT_BY_THE_MACHINE, ids=lambda store: store.__name__)
def test_state_machine_catches(broken: type[MemoryExperimentStore]) -> None:
    with pytest.raises(AssertionError) as caught:
        run_store_machine(broken, settings=QUICK)
    assert re.search(CAUGHT_BY_THE_MACHINE[broken], str(caught.value)), str(caught.value)


@pytest.mark.parametrize(
    ("broken", "test"),
    [
        (DropsLastMetricPoint, "test_long_series_in_many_batches"),
        (DropsLastMetricPoint, "test_concurrent_metric_batches_lose_nothing"),
        (LosesNaNParameters, "test_every_kind_of_value_comes_back_exactly"),
        (ListsTrialsInSaveOrder, "test_delete_experiment_empties_the_store"),
        (NormalizesLineEnds, "test_every_kind_of_value_comes_back_exactly"),
        (KeepsFirstOutput, "test_every_kind_of_value_comes_back_exactly"),
        (RacyTrialIds, "test_trial_ids_and_swaps_across_threads"),
        (ReplacesCachedOutput, "test_cached_output_is_kept_once_and_read_back_whole"),
        (ReplacesCachedOutput, "test_racing_cache_writers_keep_one_whole_entry"),
        (RacyCachedOutput, "test_racing_cache_writers_keep_one_whole_entry"),
        (CachesByKeyOnly, "test_cached_outputs_are_apart_per_step_and_key"),
        (TruncatesBigCachedOutputs, "test_empty_and_big_cached_outputs"),
        (KeepsCacheOfDeletedTrials, "test_deleting_a_trial_removes_the_cached_outputs_it_made"),
        (SaveOverwritesLabels, "test_labels_survive_concurrent_saves_of_the_trial"),
        (SaveOverwritesLabels, "test_every_kind_of_value_comes_back_exactly"),
        (RacyLabels, "test_labels_survive_concurrent_saves_of_the_trial"),
        (ReusesDeletedTrialIds, "test_deleted_trial_is_gone_and_its_id_never_reused"),
        (DeleteTrialKeepsPersisted, "test_deleted_trial_is_gone_and_its_id_never_reused"),
        (DeleteTrialDropsSharedCode, "test_shared_texts_survive_deleting_some_trials"),
        (StartWithoutEnvironment, "test_trial_start_saves_record_code_and_environment"),
    ],
    ids=lambda value: value if isinstance(value, str) else value.__name__,
)
def test_plain_contract_test_catches(broken: type[MemoryExperimentStore], test: str) -> None:
    with pytest.raises(AssertionError):
        getattr(StoreContract(), test)(broken)
