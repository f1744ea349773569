"""A trial killed mid-run (SIGKILL, no chance to clean up) loses nothing and is not a success."""

from __future__ import annotations

import signal
import time

import pytest

import xptrack
from tests.integration import _steps

pytestmark = pytest.mark.slow


def test_a_trial_killed_mid_run_shows_as_interrupted_and_loses_nothing(
    backend_kind, backend_uri, experiment_id, tmp_path, monkeypatch
):
    # Heartbeats every second (in the script and in this reader): stale after 4.5 s.
    monkeypatch.setenv("XPTRACK_HEARTBEAT_INTERVAL", "1")
    with _steps.running("crash", backend_uri, experiment_id, (), cwd=tmp_path) as (process,):
        _steps.release_together([process])
        # Trials 1 and 2 finished; trial 3's first step finished, its result step is blocked.
        assert _steps.read_line(process) == "blocked"
        reader = _steps.open_experiment(backend_uri, experiment_id)
        # Buffered points reach the store while the step still runs (at least every 2 s).
        assert _eventually(lambda: _points(reader, "live", 3) == 30), _steps.log_of(process)
        assert reader.get_trial(3).status == "running"
        process.kill()
        assert process.wait(timeout=_steps.WAIT_S) == -signal.SIGKILL

    ex = _steps.open_experiment(backend_uri, experiment_id)
    _steps.build_blocking(ex)
    history = ex.get_history()
    assert list(history.index) == [1, 2, 3]
    assert list(history["a"]) == [1, 2, 3]
    assert list(history["Success"]) == [True, True, False]
    assert list(history["Result"].iloc[:2]) == [11, 21]
    assert (
        list(history["Result"].isna()) == list(history["Finished"].isna()) == [False, False, True]
    )
    assert _eventually(lambda: ex.get_history().loc[3, "Description"] == "interrupted")
    assert ex.get_trial(3).status == "interrupted"
    assert list(ex.load_metric("live", 3)[3]) == [float(i) for i in range(30)]
    verbose = ex.get_history(verbose=True)
    assert list(verbose["Status"]) == ["finished", "finished", "interrupted"]
    assert ex.get_parameters(3) == {"a": 3, "block": True}
    assert ex.get_persisted("prepare", 3) == 30
    assert ex.load_metric("progress", [1, 2, 3]).loc[0].to_dict() == {1: 1, 2: 2, 3: 3}
    assert "def finish(p, block):" in ex.get_code(3)

    # The store takes new trials after the crash; the id of the killed one is never reused.
    ex.set_parameters(a=4, block=False)
    assert _steps.build_blocking(ex).compute(seed=4) == 41
    assert list(ex.get_history()["Success"]) == [True, True, False, True]

    if backend_kind == "local":
        _assert_only_whole_files(backend_uri, experiment_id)


def _eventually(check, seconds=_steps.WAIT_S):
    """True once ``check()`` is (polled until the deadline)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)  # the pace of the polling, not a wait for the outcome
    return False


def _points(ex, key, trial_id):
    try:
        return len(ex.load_metric(key, trial_id))
    except xptrack.NotFoundError:
        return 0


def _assert_only_whole_files(folder, experiment_id):
    """Every visible file of the local store is one xptrack wrote whole: no temporary file
    of an atomic write shows where persisted outputs or code are looked up."""
    persisted = sorted(p.name for p in (folder / "persist").iterdir() if not p.name.startswith("."))
    assert persisted == [f"{experiment_id}_prepare_{n}.pkl" for n in (1, 2, 3, 4)]
    code = sorted(p.name for p in (folder / "code").iterdir() if not p.name.startswith("."))
    assert code == [f"{experiment_id}_{n}.py" for n in (1, 2, 3, 4)]
    leftovers = [p.name for p in folder.rglob("*.tmp")]
    assert all(name.startswith(".") for name in leftovers), leftovers
