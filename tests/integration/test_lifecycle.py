"""A trial's life on every persistent store, through the public API and real processes."""

from __future__ import annotations

import json
import logging
import os
import pathlib
import subprocess
import sys
import threading
import time

import pytest

import xptrack
from tests.integration import _lifecycle, _steps

pytestmark = pytest.mark.slow


def eventually(check, seconds=_steps.WAIT_S):
    """True once ``check()`` is (polled until the deadline)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)  # the pace of the polling, not a wait for the outcome
    return False


def test_another_process_sees_each_sweep_trial_when_it_ends(backend_uri, experiment_id, tmp_path):
    release = tmp_path / "release"
    process = _lifecycle.start_sweep(backend_uri, experiment_id, release, tmp_path)
    try:
        _steps.release_together([process])
        ex = _steps.open_experiment(backend_uri, experiment_id)
        _lifecycle.build_sweep(ex, release)

        def two_finished():
            history = ex.get_history(verbose=True)
            return len(history) == 4 and list(history["Status"])[:2] == ["finished"] * 2

        assert eventually(two_finished), _steps.log_of(process)
        # This process reads the store while the sweep runs in the other one.
        mid = ex.get_history(verbose=True)
        assert list(mid["Status"]) == ["finished", "finished", "running", "running"]
        assert list(mid["Success"]) == [True, True, False, False]
        assert list(mid["Description"].iloc[2:]) == ["running", "running"]
        assert list(mid["Result"].iloc[:2]) == [10, 20]
        assert ex.get_trial(3).status == "running" and ex.get_trial(3).finished is None
        release.touch()
        assert json.loads(_steps.finish(process)) == [10, 20, 30, 40]
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    history = ex.get_history(verbose=True)
    assert list(history["Status"]) == ["finished"] * 4
    finished, started = list(history["Finished"]), list(history["Started"])
    # Recorded as each ended: the quick trials before the released ones; and each with its
    # own process time, within its own start and finish (not the whole sweep's).
    assert max(finished[:2]) < min(finished[2:])
    for n in (1, 2, 3, 4):
        own = (finished[n - 1] - started[n - 1]).total_seconds()
        assert 0 < history.loc[n, "Process Time"].total_seconds() <= own
    assert ex.load_metric("started", [1, 2, 3, 4]).loc[0].to_dict() == {1: 1, 2: 2, 3: 3, 4: 4}


class Unpicklable:
    def __reduce__(self):
        raise TypeError("this object cannot be pickled")


def test_an_unstorable_result_in_the_second_of_four_trials(backend_uri, experiment_id):
    ex = _steps.open_experiment(backend_uri, experiment_id)
    kind = ex.parameter("kind")

    @ex.result
    def make(kind):
        return Unpicklable() if kind == "bad" else kind

    outcomes = ex.run_trials(
        make(kind), [{"kind": k} for k in ("a", "bad", "c", "d")], errors="return"
    )
    assert outcomes[0] == "a" and outcomes[2:] == ["c", "d"]
    assert isinstance(outcomes[1], xptrack.UnstorableValue)
    history = ex.get_history(verbose=True)
    assert list(history["Status"]) == ["finished", "failed", "finished", "finished"]
    assert list(history["Result"].iloc[[0, 2, 3]]) == ["a", "c", "d"]
    assert history.loc[2, "Description"].startswith(
        "UnstorableValue: the trial's result could not be stored"
    )
    assert ex.get_trial(2).traceback

    ex.set_parameters(kind="bad")
    with pytest.raises(xptrack.UnstorableValue):
        make(kind).compute(seed=1)
    assert ex.get_trial(5).status == "failed"


def test_tracebacks_and_output_of_parallel_trials_are_kept_apart(backend_uri, experiment_id):
    ex = _steps.open_experiment(backend_uri, experiment_id)
    n = ex.parameter("n")
    together = threading.Barrier(3, timeout=_steps.WAIT_S)

    @ex
    def prepare(n):
        together.wait()  # the three trials run at once, each in a thread of its own
        for line in range(10):
            print(f"trial-{n} prints {line}")
            logging.getLogger("user").warning("trial-%s logs %s", n, line)
        return n

    @ex.result
    def check(n):
        print(f"trial-{n} checks", file=sys.stderr)
        if n % 2:
            raise ValueError(f"odd trial-{n}")
        return n

    outcomes = ex.run_trials(
        check(prepare(n)), [{"n": 0}, {"n": 1}, {"n": 2}], errors="return", num_workers=3
    )
    assert outcomes[0] == 0 and isinstance(outcomes[1], ValueError) and outcomes[2] == 2
    for trial_id, number in ((1, 0), (2, 1), (3, 2)):
        info = ex.get_trial(trial_id)
        lines = info.output.splitlines()
        assert len(lines) == 21 and all(f"trial-{number} " in line for line in lines)
        assert lines[-1] == f"trial-{number} checks"
        assert list(info.steps) == ["prepare", "check"]
        assert info.steps["prepare"].finished <= info.steps["check"].started
    failed = ex.get_trial(2)
    assert failed.status == "failed" and failed.error == "ValueError: odd trial-1"
    assert "raise ValueError" in failed.traceback and "odd trial-1" in failed.traceback


def test_a_seed_out_of_range_records_nothing(backend_uri, experiment_id):
    ex = _steps.open_experiment(backend_uri, experiment_id)
    call = _steps.build_inverse(ex)
    ex.set_parameters(x=2)
    with pytest.raises(xptrack.InvalidArgument, match="seed must be between 0"):
        call.compute(seed=-1)
    assert ex.trial_id == 0 and ex.get_history().empty
    assert call.compute(seed=0) == 0.5 and ex.get_trial(1).seed == 0


def test_xptrack_run_records_the_git_state_of_the_scripts_repository(tmp_path):
    repository = tmp_path / "project"
    repository.mkdir()
    script = repository / "train.py"
    script.write_text(
        "import xptrack\n"
        "ex = xptrack.Experiment('gitted')\n"
        "a = ex.parameter('a')\n"
        "@ex.result\n"
        "def double(a):\n"
        "    return 2 * a\n"
        "s = double(a)\n"
    )
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    for command in (["init", "-q"], ["add", "train.py"], ["commit", "-q", "-m", "first"]):
        subprocess.run([*git, *command], cwd=repository, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repository, capture_output=True, text=True, check=True
    ).stdout.strip()
    elsewhere = tmp_path / "elsewhere"  # not in any repository: the cwd is not what counts
    elsewhere.mkdir()
    xptrack_command = str(pathlib.Path(sys.executable).with_name("xptrack"))
    done = subprocess.run(
        [xptrack_command, "run", str(script), "a=4", "--seed", "1"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=_steps.WAIT_S,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "8"
    assert "Capturing the environment" in done.stderr  # the first trial says so
    ex = xptrack.Experiment("gitted", backend=elsewhere / "xptrack_cache" / "gitted")
    git_state = ex.get_environment(1, "git")
    assert git_state["commit"] == head
    assert pathlib.Path(git_state["repository"]).resolve() == repository.resolve()
