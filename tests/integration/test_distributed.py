"""Trials on a dask.distributed cluster: steps run in worker processes and record into the
right trial of the right experiment."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import distributed
import pytest

import xptrack
from tests.integration import _steps

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client() -> Iterator[distributed.Client]:
    """Two single-threaded worker processes for the whole module (starting them costs seconds)."""
    with (
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture
def worker_pids(client) -> set[int]:
    return set(client.run(os.getpid).values())


def test_steps_run_on_workers_and_record_into_the_trial(
    client, worker_pids, backend_uri, experiment_id
):
    ex = _steps.open_experiment(backend_uri, experiment_id)
    call = _steps.build_where(ex)
    ex.set_parameters(x=3)

    pid = call.compute(seed=1)

    assert pid in worker_pids and pid != os.getpid()
    history = ex.get_history()
    assert list(history.index) == [1] and history.loc[1, "Success"]
    assert history.loc[1, "Result"] == pid and history.loc[1, "x"] == 3
    assert ex.get_persisted("where", 1) == {"pid": pid, "x": 3, "experiment": experiment_id}
    assert ex.load_metric("pid", 1).loc[0, 1] == pid
    assert ex.load_metric("double", 1).loc[1, 1] == 6


def test_a_sweep_on_the_cluster_records_every_trial_in_its_own_place(
    client, worker_pids, backend_uri, experiment_id
):
    ex = _steps.open_experiment(backend_uri, experiment_id)
    call = _steps.build_where(ex)

    outcomes = ex.run_trials(call, [{"x": 1}, {"x": 0}, {"x": 2}, {"x": 5}], errors="return")

    assert isinstance(outcomes[1], ValueError) and "x must not be 0" in str(outcomes[1])
    assert {outcomes[0], outcomes[2], outcomes[3]} <= worker_pids
    history = ex.get_history()
    assert list(history["x"]) == [1, 0, 2, 5]
    assert list(history["Success"]) == [True, False, True, True]
    assert history.loc[2, "Description"] == "ValueError: x must not be 0"
    for trial_id, x in zip(history.index, history["x"], strict=True):
        persisted = ex.get_persisted("where", trial_id)
        assert persisted["x"] == x and persisted["pid"] in worker_pids
        assert ex.load_metric("pid", trial_id).loc[0, trial_id] == persisted["pid"]
    assert ex.load_metric("double", [1, 3, 4]).loc[1].to_dict() == {1: 2, 3: 4, 4: 10}


def test_two_experiments_running_the_same_steps_at_once_get_their_own_results(client, tmp_path):
    # Same step names, same trial ids (1 and 2): tasks of one must never stand in for the other's.
    experiments = [_steps.open_experiment(tmp_path / name, name) for name in ("first", "second")]
    calls = [_steps.build_where(ex) for ex in experiments]
    barrier = threading.Barrier(2)
    outcomes: dict[str, list[object]] = {}

    def sweep(ex: xptrack.Experiment, call: object) -> None:
        barrier.wait(timeout=_steps.WAIT_S)
        outcomes[ex.id] = ex.run_trials(call, [{"x": 1}, {"x": 2}])

    threads = [
        threading.Thread(target=sweep, args=pair) for pair in zip(experiments, calls, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(_steps.WAIT_S)

    for ex in experiments:
        assert len(outcomes[ex.id]) == 2
        for trial_id in (1, 2):
            assert ex.get_persisted("where", trial_id)["experiment"] == ex.id
            assert ex.get_persisted("where", trial_id)["x"] == trial_id


# Last in the module: while unpickling the experiment on a worker raises, the worker's
# connection breaks and the cluster is lost; the timeout bounds the hang that follows.
@pytest.mark.timeout(30)
def test_the_memory_store_cannot_be_reached_from_a_worker_and_says_so(client, experiment_id):
    ex = xptrack.Experiment(
        experiment_id, backend=f"memory://{experiment_id}", capture_environment=False
    )
    call = _steps.build_where(ex)
    ex.set_parameters(x=1)

    with pytest.raises(xptrack.StoreError, match=r"another process.*local, Redis or MongoDB"):
        call.compute(seed=1)

    history = ex.get_history()
    assert list(history["Success"]) == [False]
    assert "use a local, Redis or MongoDB backend" in history.loc[1, "Description"]


def test_output_step_times_and_traceback_come_back_from_the_workers(
    client, worker_pids, backend_uri, experiment_id
):
    ex = _steps.open_experiment(backend_uri, experiment_id)
    x = ex.parameter("x")

    @ex
    def shout(x):
        print(f"worker {os.getpid()} has x={x}")
        return x

    @ex.result
    def invert(x):
        return 1 / x

    outcomes = ex.run_trials(invert(shout(x)), [{"x": 2}, {"x": 0}], errors="return")
    assert outcomes[0] == 0.5 and isinstance(outcomes[1], ZeroDivisionError)
    for trial_id, value in ((1, 2), (2, 0)):
        info = ex.get_trial(trial_id)
        (line,) = info.output.splitlines()
        pid = int(line.split()[1])
        assert pid in worker_pids and line.endswith(f"has x={value}")
        assert list(info.steps) == ["shout", "invert"]
    failed = ex.get_trial(2)
    # Shipped by value to the workers, the step's frames name it (its source is not there).
    assert failed.status == "failed" and "in invert" in failed.traceback
    assert failed.traceback.endswith("ZeroDivisionError: division by zero\n")
