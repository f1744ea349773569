"""The embeddable core: a service records trials through the use-cases, without dask."""

from __future__ import annotations

import pytest

from xptrack import TrialRecorder
from xptrack.adapters.memory import MemoryBackend
from xptrack.application.bootstrap import user_object_codec
from xptrack.domain.code import CodeContext
from xptrack.domain.trial import TrialStatus


def test_a_service_records_a_trial_with_metrics_persisted_output_and_result(probe):
    store = MemoryBackend("recorder-1").open("service")
    recorder = TrialRecorder(store, probe)
    with recorder.trial(
        {"lr": 0.1, "layers": [64, 64]}, seed=3, code=CodeContext({"fit": "def fit(): ...\n"})
    ) as trial:
        for epoch in range(3):
            trial.save_metric("loss", epoch, 1.0 / (epoch + 1))
        trial.persist("model", {"weights": [1, 2]})
        trial.result = 0.93
    record = store.get_trial(trial.trial_id)
    assert record.status is TrialStatus.FINISHED and record.result == 0.93 and record.seed == 3
    assert record.parameters == {"lr": 0.1, "layers": [64, 64]}
    assert store.load_metric(1, "loss").values == [1.0, 0.5, 1 / 3]
    assert user_object_codec().load(store.load_persisted("model", 1)) == {"weights": [1, 2]}
    assert store.load_code(1) == "def fit(): ...\n"
    assert store.load_environment(1) == probe.snapshot


def test_an_error_in_the_block_records_a_failed_trial_and_propagates(probe):
    store = MemoryBackend("recorder-2").open("service")
    recorder = TrialRecorder(store, probe)
    with pytest.raises(RuntimeError, match="diverged"), recorder.trial({"lr": 10}) as trial:
        trial.save_metric("loss", 0, float("inf"))
        raise RuntimeError("diverged")
    record = store.get_trial(1)
    assert record.status is TrialStatus.FAILED and record.description == "RuntimeError: diverged"
    assert store.load_metric(1, "loss").values == [float("inf")]


def test_trials_get_increasing_ids_and_a_seed_when_none_is_given():
    store = MemoryBackend("recorder-3").open("service")
    recorder = TrialRecorder(store)
    ids = []
    for value in range(3):
        with recorder.trial({"v": value}) as trial:
            trial.result = value
        ids.append(trial.trial_id)
    assert ids == [1, 2, 3]
    assert all(isinstance(r.seed, int) for r in store.list_trials())
