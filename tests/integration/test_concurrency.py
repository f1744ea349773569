"""Many trials of one experiment at once (processes, threads, sweeps): nothing lost or mixed up."""

from __future__ import annotations

import json
import threading

import pytest

from tests.integration import _steps

PROCESSES = 4
TRIALS_PER_PROCESS = 50
THREADS = 4
TRIALS_PER_THREAD = 6


@pytest.mark.slow
def test_processes_running_trials_at_once_lose_and_mix_up_nothing(
    backend_uri, experiment_id, tmp_path
):
    workers = [(worker, TRIALS_PER_PROCESS) for worker in range(PROCESSES)]
    with _steps.running(
        "concurrent", backend_uri, experiment_id, *workers, cwd=tmp_path
    ) as processes:
        _steps.release_together(processes)
        results = [json.loads(_steps.finish(process)) for process in processes]

    total = PROCESSES * TRIALS_PER_PROCESS
    ids = [int(result.rsplit("/", 1)[1]) for per_process in results for result in per_process]
    assert len(set(ids)) == total
    ex = _steps.open_experiment(backend_uri, experiment_id)
    _steps.build_tagged(ex)
    history = ex.get_history()
    assert len(history) == total and set(history.index) == set(ids)
    assert history["Success"].all() and history["Description"].isna().all()
    for trial_id, row in history.iterrows():
        assert row["Result"] == f"{row['worker']}/{row['i']}/{trial_id}"
    expected = {(w, i) for w in range(PROCESSES) for i in range(TRIALS_PER_PROCESS)}
    assert set(zip(history["worker"], history["i"], strict=True)) == expected
    metric = ex.load_metric("seen", sorted(ids))
    for trial_id, row in history.iterrows():
        assert metric[trial_id].dropna().to_dict() == {row["i"]: row["worker"]}


def test_threads_running_trials_at_once_each_record_their_own_parameters(
    backend_uri, experiment_id
):
    ex = _steps.open_experiment(backend_uri, experiment_id)
    call, tag = _steps.build_tagged(ex)
    barrier = threading.Barrier(THREADS)
    expected: dict[int, list[tuple[str, dict | None]]] = {}
    failures: list[BaseException] = []

    def run(worker: int) -> None:
        mine: list[tuple[str, dict | None]] = []
        try:
            barrier.wait(timeout=_steps.WAIT_S)
            for i in range(TRIALS_PER_THREAD):
                if i % 2:  # values as step arguments: nothing shared with other threads
                    mine.append((tag(worker, i).compute(), None))
                else:  # values as this trial's parameters
                    parameters = {"worker": worker, "i": i}
                    (result,) = ex.run_trials(call, [parameters])
                    mine.append((result, parameters))
        except BaseException as error:
            failures.append(error)
        expected[worker] = mine

    threads = [threading.Thread(target=run, args=(worker,)) for worker in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(_steps.WAIT_S)
    assert not failures

    history = ex.get_history()
    assert len(history) == THREADS * TRIALS_PER_THREAD and history["Success"].all()
    for worker, runs in expected.items():
        for i, (result, parameters) in enumerate(runs):
            trial_id = int(result.rsplit("/", 1)[1])
            assert result == f"{worker}/{i}/{trial_id}"
            assert history.loc[trial_id, "Result"] == result
            assert ex.get_parameters(trial_id) == (parameters or {})
            assert ex.load_metric("seen", trial_id)[trial_id].to_dict() == {i: worker}


def test_a_sweep_records_each_trial_with_its_own_parameters_and_failures_as_failed(
    backend_uri, experiment_id
):
    ex = _steps.open_experiment(backend_uri, experiment_id)
    call = _steps.build_inverse(ex)

    outcomes = ex.run_trials(call, [{"x": 1}, {"x": 0}, {"x": 4}], errors="return")
    assert outcomes[0] == 1.0 and outcomes[2] == 0.25
    assert isinstance(outcomes[1], ZeroDivisionError)
    with pytest.raises(ZeroDivisionError):
        ex.run_trials(call, [{"x": 2}, {"x": 0}])

    history = ex.get_history()
    assert list(history.index) == [1, 2, 3, 4, 5]
    assert list(history["x"]) == [1, 0, 4, 2, 0]
    assert list(history["Success"]) == [True, False, True, True, False]
    assert list(history["Result"].dropna()) == [1.0, 0.25, 0.5]
    assert history.loc[2, "Description"] == "ZeroDivisionError: division by zero"
    assert history.loc[5, "Description"] == "ZeroDivisionError: division by zero"
    for trial_id, x in zip(history.index, history["x"], strict=True):
        assert ex.get_persisted("half", trial_id) == x / 2
        assert ex.load_metric("x", trial_id).loc[0, trial_id] == x
    assert ex.trial_id == 5
