"""The step cache on every store, through the public API and real processes (issue 18)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest

import xptrack
from tests.integration._cache_steps import build_cached, calls_of, record_call

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("local", id="local"),
        pytest.param("redis", id="redis", marks=pytest.mark.redis),
        pytest.param("mongo", id="mongo", marks=pytest.mark.mongo),
    ]
)
def backend_kind(request: pytest.FixtureRequest) -> str:
    """Every store, the in-memory one too (it overrides the integration fixture's list)."""
    return str(request.param)


@pytest.fixture
def store(request, backend_kind, experiment_id):
    """The ``backend`` argument of this test's store."""
    if backend_kind == "memory":
        return f"memory://{experiment_id}"
    return request.getfixturevalue("backend_uri")


@pytest.fixture
def calls(tmp_path):
    return tmp_path / "calls.txt"


def open_experiment(store, experiment_id):
    return xptrack.Experiment(experiment_id, backend=store, capture_environment=False)


def cached_from(ex, trial_id, step="prep"):
    """The trial ``step`` of trial ``trial_id`` reused its output from (None: it ran)."""
    (record,) = [s for s in ex.backend.open(ex.id).get_trial(trial_id).steps if s.name == step]
    return record.cached_from


def test_a_sweep_over_a_late_parameter_runs_the_cached_step_once(
    store, experiment_id, calls, caplog
):
    ex = open_experiment(store, experiment_id)
    result = build_cached(ex, calls)
    ex.set_parameters(a=1)
    with caplog.at_level(logging.INFO, logger="xptrack"):
        results = ex.run_trials(result, [{"lr": lr} for lr in range(10)], seed=1)
    assert results == [60 * lr for lr in range(10)]
    assert (calls_of(calls, "prep"), calls_of(calls, "fit")) == (1, 10)
    sources = [cached_from(ex, trial_id) for trial_id in range(1, 11)]
    ran = [trial_id for trial_id, source in zip(range(1, 11), sources, strict=True) if not source]
    assert len(ran) == 1 and set(sources) == {None, ran[0]}, sources
    reused = [m for m in caplog.messages if m == f"step prep: reused output of trial {ran[0]}"]
    assert len(reused) == 9
    assert all(cached_from(ex, trial_id, "fit") is None for trial_id in range(1, 11))


def test_a_second_process_reuses_the_output(store, backend_kind, experiment_id, calls, tmp_path):
    if backend_kind == "memory":
        pytest.skip("the memory store lives in one process")
    command = [sys.executable, "-m", "tests.integration._cache_steps", str(store), experiment_id]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])}
    for lr in (1, 2):
        done = subprocess.run(
            [*command, str(calls), "1", str(lr), "7"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"trial": lr, "result": 60.0 * lr}
    assert "step prep: reused output of trial 1" in done.stderr
    ex = open_experiment(store, experiment_id)
    assert (calls_of(calls, "prep"), calls_of(calls, "fit")) == (1, 2)
    assert [cached_from(ex, 1), cached_from(ex, 2)] == [None, 1]
    # And this process, with the same step definitions, reuses it too.
    result = build_cached(ex, calls)
    ex.set_parameters(a=1, lr=3)
    assert result.compute(seed=7) == 180
    assert calls_of(calls, "prep") == 1 and cached_from(ex, 3) == 1


def test_processes_missing_one_key_together_keep_one_output(
    store, backend_kind, experiment_id, calls, tmp_path
):
    if backend_kind == "memory":
        pytest.skip("the memory store lives in one process")
    command = [sys.executable, "-m", "tests.integration._cache_steps", str(store), experiment_id]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])}
    processes = [
        subprocess.Popen(
            [*command, str(calls), "2", "1", "3"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        reports = [process.communicate(timeout=180) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    assert all(p.returncode == 0 for p in processes), [err for _, err in reports]
    assert {json.loads(out)["result"] for out, _ in reports} == {120.0}
    assert 1 <= calls_of(calls, "prep") <= 3, "a process ran the step more than once"
    ex = open_experiment(store, experiment_id)
    sources = {cached_from(ex, trial_id) for trial_id in (1, 2, 3)}
    result = build_cached(ex, calls)
    ex.set_parameters(a=2, lr=1)
    assert result.compute(seed=3) == 120
    kept = cached_from(ex, 4)
    assert kept in {1, 2, 3} and sources <= {None, kept}, (sources, kept)


def test_what_runs_the_cached_step_again_and_what_does_not(store, experiment_id, calls):
    ex = open_experiment(store, experiment_id)
    result = build_cached(ex, calls)
    ex.set_parameters(a=1, lr=1)
    assert result.compute(seed=1) == 60
    assert result.compute(seed=1) == 60 and cached_from(ex, 2) == 1

    ex.set_parameters(a=2)  # another input
    assert result.compute(seed=1) == 120 and cached_from(ex, 3) is None
    assert calls_of(calls, "prep") == 2

    @ex.result
    def fit(rows, lr):  # a later step changes: the cached step is still reused
        record_call(calls, "fit")
        return sum(rows) * lr + 1

    prep_call, lr = result.args
    assert fit(prep_call, lr).compute(seed=1) == 121
    assert cached_from(ex, 4) == 3 and calls_of(calls, "prep") == 2

    @ex(cache=True)
    def prep(a):  # the cached step's own code changes
        record_call(calls, "prep")
        return [a * 100, 0, 0]

    call = fit(prep(ex.parameter("a")), lr)
    assert call.compute(seed=1) == 201 and cached_from(ex, 5) is None
    assert call.compute(seed=1) == 201 and cached_from(ex, 6) == 5
    assert calls_of(calls, "prep") == 3

    assert call.compute(seed=1, cache=False) == 201 and cached_from(ex, 7) is None
    assert calls_of(calls, "prep") == 4
    ex.run_trials(call, [{"lr": 1}, {"lr": 2}], seed=1, cache=False)
    assert calls_of(calls, "prep") == 6
    assert [cached_from(ex, 8), cached_from(ex, 9)] == [None, None]


def test_a_randomized_step_runs_again_for_another_seed(store, experiment_id, calls):
    ex = open_experiment(store, experiment_id)
    n = ex.parameter("n", default=3)

    @ex(cache=True)
    def draw(n):
        record_call(calls, "draw")
        return xptrack.step_rng().integers(0, 1_000_000, n).tolist()

    @ex.result
    def total(values):
        return sum(values)

    call = total(draw(n))
    first = call.compute(seed=1)
    assert call.compute(seed=1) == first and cached_from(ex, 2, "draw") == 1
    other = call.compute(seed=2)
    assert cached_from(ex, 3, "draw") is None and other != first
    assert call.compute(seed=2) == other and cached_from(ex, 4, "draw") == 3
    assert calls_of(calls, "draw") == 2


def test_a_cached_persisted_step_is_persisted_in_every_trial(store, experiment_id, calls):
    ex = open_experiment(store, experiment_id)
    a = ex.parameter("a")

    @ex.persist(cache=True)
    def features(a):
        record_call(calls, "features")
        return {"a": a, "rows": list(range(a))}

    @ex.result
    def count(f):
        return len(f["rows"])

    ex.set_parameters(a=4)
    assert [count(features(a)).compute(seed=3) for _ in range(2)] == [4, 4]
    assert calls_of(calls, "features") == 1 and cached_from(ex, 2, "features") == 1
    assert ex.get_persisted("features", 2) == {"a": 4, "rows": [0, 1, 2, 3]}


def test_rerun_runs_cached_steps_and_says_whether_the_trial_reproduces(store, experiment_id, calls):
    ex = open_experiment(store, experiment_id)
    result = build_cached(ex, calls)
    ex.set_parameters(a=1, lr=2)
    assert result.compute(seed=5) == 120 and result.compute(seed=5) == 120
    assert calls_of(calls, "prep") == 1 and cached_from(ex, 2) == 1

    same = ex.rerun(1, result=result)
    assert same.identical and same.rerun == 3, str(same)
    assert calls_of(calls, "prep") == 2 and cached_from(ex, 3) is None, "rerun reused the cache"

    @ex(cache=True)
    def prep(a):  # the step changes: its output is not the one trial 1 had
        record_call(calls, "prep")
        return [a * 10, a * 20, a * 31]

    changed = ex.rerun(1, result=result)  # a call runs the latest definition of each step
    assert not changed.identical and not changed.result_identical
    assert list(changed.diff.code) == ["prep"], changed.diff.code
    assert "NOT identical" in str(changed) and "prep" in str(changed)
    assert calls_of(calls, "prep") == 3 and cached_from(ex, changed.rerun) is None
