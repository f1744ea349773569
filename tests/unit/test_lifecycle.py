"""A trial's life as a user sees it: status, traceback, output, step times, seeds, progress."""

from __future__ import annotations

import datetime as dt
import io
import logging
import threading
import time

import numpy as np
import pytest

import xptrack
from xptrack.application.progress import SweepProgress
from xptrack.domain.trial import TrialStatus
from xptrack.errors import InvalidArgument, InvalidStep, UnstorableValue, XptrackError

WAIT_S = 60.0


def eventually(check, seconds=WAIT_S):
    """True once ``check()`` is (polled until the deadline)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)  # the pace of the polling, not a wait for the outcome
    return False


def test_get_trial_of_a_failed_trial_has_traceback_output_and_step_times(make_experiment):
    ex = make_experiment()
    x = ex.parameter("x")
    step_log = logging.getLogger("user.steps")

    @ex
    def prepare(x):
        print("preparing", x)
        step_log.warning("prepared %s", x)
        return x

    @ex.result
    def divide(p):
        print("dividing")
        return _helper_that_divides(p)

    ex.set_parameters(x=0)
    with pytest.raises(ZeroDivisionError):
        divide(prepare(x)).compute(seed=4)

    info = ex.get_trial(1)
    assert isinstance(info, xptrack.TrialInfo)
    assert (info.id, info.status, info.seed, info.parameters) == (1, "failed", 4, {"x": 0})
    assert info.error == "ZeroDivisionError: division by zero"
    assert info.traceback.startswith("Traceback (most recent call last):")
    assert "_helper_that_divides" in info.traceback and "return 1 / p" in info.traceback
    assert "runtime.py" not in info.traceback  # xptrack's task machinery is left out
    assert info.output.splitlines() == [
        "preparing 0",
        "[WARNING] user.steps: prepared 0",
        "dividing",
    ]
    assert list(info.steps) == ["prepare", "divide"]
    prepare_time, divide_time = info.steps["prepare"], info.steps["divide"]
    assert prepare_time.started <= prepare_time.finished <= divide_time.started
    assert divide_time.duration == divide_time.finished - divide_time.started
    assert info.started <= prepare_time.started and divide_time.finished <= info.finished
    assert info.result is None and info.tags == () and info.note == ""


def _helper_that_divides(p):
    return 1 / p


def test_get_trial_of_a_finished_trial(make_experiment):
    ex = make_experiment()

    @ex.result
    def quiet():
        return 42

    quiet().compute(seed=1)
    info = ex.get_trial(1)
    assert (info.status, info.result, info.error, info.traceback, info.output) == (
        "finished",
        42,
        None,
        None,
        "",
    )
    assert list(info.steps) == ["quiet"] and info.process_time >= 0
    with pytest.raises(xptrack.NotFoundError, match="no trial 2"):
        ex.get_trial(2)


def test_output_and_tracebacks_of_parallel_trials_are_not_mixed(make_experiment):
    ex = make_experiment()
    n = ex.parameter("n")
    together = threading.Barrier(3, timeout=WAIT_S)

    @ex.result
    def talk(n):
        together.wait()  # all three trials' steps run at once, in three threads
        for line in range(20):
            print(f"trial-{n} line {line}")
            logging.getLogger("user").warning("trial-%s log %s", n, line)
        if n == 1:
            raise ValueError(f"trial-{n} failed")
        return n

    outcomes = ex.run_trials(
        talk(n), [{"n": 0}, {"n": 1}, {"n": 2}], errors="return", num_workers=3
    )
    assert outcomes[0] == 0 and isinstance(outcomes[1], ValueError) and outcomes[2] == 2
    for trial_id, number in ((1, 0), (2, 1), (3, 2)):
        info = ex.get_trial(trial_id)
        lines = info.output.splitlines()
        assert len(lines) == 40 and all(f"trial-{number} " in line for line in lines), lines
    assert "ValueError: trial-1 failed" in ex.get_trial(2).traceback
    assert ex.get_trial(1).traceback is None and ex.get_trial(3).traceback is None


def test_a_randomized_step_is_not_impure_across_seeds_1_2_1(make_experiment, caplog):
    ex = make_experiment()

    @ex.result
    def draw():
        return float(xptrack.step_rng().random())

    with caplog.at_level(logging.WARNING, logger="xptrack"):
        first = draw().compute(seed=1)
        second = draw().compute(seed=2)
        again = draw().compute(seed=1)
    assert first == again != second
    assert "changed with the same input" not in caplog.text


def test_an_impure_step_is_still_reported_under_the_same_seed(make_experiment, caplog):
    ex = make_experiment()
    calls = iter(range(10))

    @ex.result
    def counter():
        return next(calls)

    with caplog.at_level(logging.WARNING, logger="xptrack"):
        counter().compute(seed=1)
        counter().compute(seed=1)
    assert "changed with the same input" in caplog.text


@pytest.mark.parametrize("seed", [-1, 2**32, 2**40])
def test_a_seed_out_of_range_is_refused_before_anything_is_recorded(make_experiment, seed):
    ex = make_experiment()

    @ex.result
    def one():
        return 1

    with pytest.raises(InvalidArgument, match=r"between 0 and 2\*\*32 - 1"):
        one().compute(seed=seed)
    with pytest.raises(InvalidArgument, match="seed"):
        ex.run_trials(one(), [{}], seed=seed)
    assert ex.trial_id == 0 and ex.get_history().empty
    with pytest.raises(InvalidArgument, match="seed"):
        make_experiment("other", seed=seed)
    assert one().compute(seed=2**32 - 1) == 1


def test_default_none_means_the_value_none(make_experiment):
    ex = make_experiment()
    given = ex.parameter("given", default=None)
    missing = ex.parameter("missing")
    assert given.value is None and missing.value is xptrack.Undefined

    @ex.result
    def show(given):
        return given

    assert show(given).compute(seed=1) is None
    assert ex.get_parameters(1) == {"given": None}

    @ex.result
    def needs(missing):
        return missing

    with pytest.raises(xptrack.UndefinedParameter, match="missing"):
        needs(missing).compute()
    ex.parameter("given")  # declared again without a default: keeps its value
    assert ex.get_parameters()["given"] is None


class Unpicklable:
    def __reduce__(self):
        raise TypeError("this object cannot be pickled")


def test_an_unstorable_result_fails_its_trial_only(make_experiment):
    ex = make_experiment()
    kind = ex.parameter("kind")

    @ex.result
    def make(kind):
        return Unpicklable() if kind == "bad" else kind

    sets = [{"kind": "a"}, {"kind": "bad"}, {"kind": "c"}, {"kind": "d"}]
    outcomes = ex.run_trials(make(kind), sets, errors="return")
    assert outcomes[0] == "a" and outcomes[2:] == ["c", "d"]
    assert isinstance(outcomes[1], UnstorableValue)
    history = ex.get_history(verbose=True)
    assert list(history["Status"]) == ["finished", "failed", "finished", "finished"]
    assert "could not be stored" in history.loc[2, "Description"]
    assert "cannot be pickled" in ex.get_trial(2).traceback

    ex.set_parameters(kind="bad")
    with pytest.raises(UnstorableValue):
        make(kind).compute()
    assert ex.get_trial(5).status == "failed"
    with pytest.raises(UnstorableValue):
        ex.run_trials(make(kind), [{"kind": "e"}, {"kind": "bad"}])
    assert [ex.get_trial(n).status for n in (6, 7)] == ["finished", "failed"]


def test_metric_points_reach_the_store_while_the_step_still_runs(make_experiment):
    ex = make_experiment()

    @ex.result
    def long_step():
        ex.save_metric("loss", epoch=0, value=0.5)
        trial = ex.current_trial_id
        # The step goes on (its own end would flush the point) until the point is readable.
        return eventually(lambda: _stored_points(ex, trial))

    assert long_step().compute(seed=1) is True
    assert list(ex.load_metric("loss", 1)[1]) == [0.5]


def _stored_points(ex, trial_id):
    try:
        return len(ex.load_metric("loss", trial_id)) == 1
    except xptrack.NotFoundError:
        return False


def test_a_running_trial_renews_its_heartbeat(make_experiment, memory_backend, monkeypatch):
    monkeypatch.setenv("XPTRACK_HEARTBEAT_INTERVAL", "0.05")
    ex = make_experiment()
    store = memory_backend.open("unit")
    release = threading.Event()
    seen = {}

    @ex.result
    def wait():
        release.wait(WAIT_S)
        return 1

    def watch():
        trial = ex.get_trial(1)
        seen["first"] = ex.get_history(verbose=True).loc[1, "Status"]
        seen["renewed"] = eventually(lambda: store.get_trial(1).heartbeat > trial.started)
        # Stale after 4.5 intervals (0.225 s), yet still running: renewals keep it alive.
        later = dt.timedelta(seconds=0.5)
        seen["still"] = eventually(lambda: store.get_trial(1).heartbeat - trial.started > later)
        seen["status"] = ex.get_trial(1).status
        release.set()

    watcher = threading.Thread(target=lambda: eventually(lambda: ex.trial_id == 1) and watch())
    watcher.start()
    assert wait().compute(seed=1) == 1
    watcher.join()
    assert seen == {"first": "running", "renewed": True, "still": True, "status": "running"}
    assert ex.get_trial(1).status == "finished"


def test_sweep_progress_is_logged_and_per_trial_lines_are_debug(make_experiment, caplog):
    ex = make_experiment()
    n = ex.parameter("n")

    @ex.result
    def same(n):
        return n

    with caplog.at_level(logging.DEBUG, logger="xptrack"):
        assert ex.run_trials(same(n), [{"n": i} for i in range(3)]) == [0, 1, 2]
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert ("INFO", "Running 3 trials") in lines
    assert any(level == "INFO" and msg.startswith("Trials finished: 3/3") for level, msg in lines)
    started = [level for level, msg in lines if msg.startswith("Started Experiment")]
    assert started == ["DEBUG"] * 3
    caplog.clear()
    ex.set_parameters(n=9)
    with caplog.at_level(logging.INFO, logger="xptrack"):
        same(n).compute(seed=1)
    assert "Started Experiment (trial id=4)" in caplog.text


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_sweep_progress_on_a_terminal_is_a_bar_with_rate_and_eta():
    screen = _Terminal()
    with SweepProgress(4, screen) as progress:
        for _ in range(4):
            progress.trial_ended(None)
    frames = screen.getvalue().split("\r")
    assert frames[1].startswith("trials [------------------------------] 0/4")
    assert "[###############---------------] 2/4" in frames[3]
    assert "trials/s" in frames[3] and "ETA" in frames[3]
    assert "4/4" in frames[-1]


def test_a_recorder_trial_keeps_what_its_block_printed(memory_backend):
    store = memory_backend.open("service")
    recorder = xptrack.TrialRecorder(store)
    with recorder.trial({"lr": 0.1}, seed=1) as trial:
        print("fitting")
        trial.result = 1
    assert store.load_output(trial.trial_id) == "fitting\n"
    with pytest.raises(UnstorableValue), recorder.trial({}, seed=1) as trial:
        trial.result = Unpicklable()
    assert store.get_trial(trial.trial_id).status is TrialStatus.FAILED


def test_a_step_that_is_not_a_function_is_an_xptrack_error(make_experiment):
    ex = make_experiment()
    with pytest.raises(InvalidStep, match="must be a function") as raised:
        ex.result(42)
    assert isinstance(raised.value, XptrackError) and isinstance(raised.value, TypeError)


def test_numpy_global_generators_are_seeded_per_step(make_experiment):
    ex = make_experiment()

    @ex.result
    def draw():
        return float(np.random.random())

    assert draw().compute(seed=3) == draw().compute(seed=3)


def test_capturing_does_not_silence_warnings_nobody_configured_a_handler_for(
    make_experiment, capsys
):
    ex = make_experiment()
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers.clear()  # as in a script that configured no logging (pytest adds some)
    try:

        @ex.result
        def warn():
            logging.getLogger("user.quiet").warning("shown anyway")
            return 1

        warn().compute(seed=1)
    finally:
        root.handlers[:] = saved
    assert "shown anyway" in capsys.readouterr().err
    assert ex.get_trial(1).output == "[WARNING] user.quiet: shown anyway\n"
