"""The Experiment facade on the in-memory store: every call of API.md a user makes."""

from __future__ import annotations

import logging
import math
import time

import pandas as pd
import pytest

import xptrack
from tests.sessions import build_session
from xptrack.adapters.memory import MemoryExperimentStore
from xptrack.application import metrics
from xptrack.errors import (
    InvalidArgument,
    InvalidName,
    NotFoundError,
    TrialStateError,
    UndefinedParameter,
    UnknownParameter,
)


def build(ex):
    return build_session(ex, epochs=10)


def test_the_quickstart_session_records_two_trials(make_experiment):
    ex = make_experiment()
    s = build(ex)
    ex.set_parameters(a=1, b=2)
    assert s.compute() == pytest.approx(10 / 3)
    ex.set_parameters(b=3)
    assert s.compute(seed=1) == pytest.approx(2.5)
    assert ex.trial_id == 2
    history = ex.get_history()
    assert list(history.columns) == [
        "a",
        "b",
        "Result",
        "Result Type",
        "Success",
        "Finished",
        "Process Time",
        "Description",
    ]
    assert history.index.name == "Trial ID" and list(history.index) == [1, 2]
    assert list(history["b"]) == [2, 3] and list(history["Success"]) == [True, True]
    assert history.loc[2, "Result Type"] == "float"
    verbose = ex.get_history(verbose=True)
    assert verbose.loc[2, "Seed"] == 1 and "Started" in verbose.columns
    assert list(verbose["Status"]) == ["finished", "finished"]
    assert ex.get_parameters(trial_id=1) == {"a": 1, "b": 2}
    assert ex.get_persisted("features", 2) == [4, 4, 4]


def test_load_metric_gives_epochs_by_trial(make_experiment):
    ex = make_experiment()
    s = build(ex)
    ex.set_parameters(a=1)
    s.compute()
    ex.set_parameters(a=2)
    s.compute()
    frame = ex.load_metric("loss", [1, 2])
    assert frame.index.name == "Epoch" and list(frame.columns) == [1, 2]
    assert frame.loc[0, 1] == pytest.approx(1 / 3) and frame.loc[9, 2] == pytest.approx(1 / 13)
    single = ex.load_metric("loss", trial_id=1)
    assert list(single.columns) == [1] and len(single) == 10


def test_load_metric_errors_name_what_exists(make_experiment):
    ex = make_experiment()
    s = build(ex)
    ex.set_parameters(a=1)
    s.compute()
    with pytest.raises(NotFoundError, match=r"no metric 'acc' in trial 1.*\['loss'\]"):
        ex.load_metric("acc", 1)
    with pytest.raises(InvalidArgument, match="trial id"):
        ex.load_metric("loss", "1")
    with pytest.raises(InvalidName):
        ex.load_metric("a:b", 1)


def test_a_failing_trial_is_recorded_and_the_error_reraised(make_experiment):
    ex = make_experiment()
    x = ex.parameter("x")

    @ex.result
    def divide(x):
        ex.save_metric("before", 0, 1.0)
        return 1 / x

    ex.set_parameters(x=0)
    with pytest.raises(ZeroDivisionError):
        divide(x).compute()
    row = ex.get_history(verbose=True).loc[1]
    assert not row["Success"] and row["Description"] == "ZeroDivisionError: division by zero"
    assert row["Status"] == "failed"
    assert list(ex.load_metric("before", 1)[1]) == [1.0]
    ex.set_parameters(x=4)
    assert divide(x).compute() == 0.25 and ex.trial_id == 2


def test_undefined_parameter_is_refused_and_nothing_recorded(make_experiment):
    ex = make_experiment()
    s = build(ex)
    with pytest.raises(UndefinedParameter, match=r"\['a'\].*set_parameters\(a=\.\.\.\)"):
        s.compute()
    assert ex.trial_id == 0 and ex.get_history().empty


def test_unknown_parameter_names_are_refused(make_experiment):
    ex = make_experiment()
    ex.parameter("a")
    with pytest.raises(UnknownParameter, match=r"\['zz'\].*declared.*a"):
        ex.set_parameters(zz=1)


def test_parameter_repr_and_values(make_experiment):
    ex = make_experiment()
    a = ex.parameter("a")
    b = ex.parameter("b", default=2)
    assert repr(a) == "Parameter(a: Undefined)" and repr(b) == "Parameter(b: 2)"
    ex.set_parameters(a="x")
    assert ex.get_parameters() == {"a": "x", "b": 2}


def test_decorators_work_with_and_without_parentheses(make_experiment):
    ex = make_experiment()

    @ex()
    def one():
        return 1

    @ex.persist()
    def two(x):
        return x + 1

    @ex.result()
    def three(x):
        return x + 1

    assert three(two(one())).compute() == 3
    assert ex.get_persisted("two", 1) == 2
    assert one.__name__ == "one" and "return 1" in ex.get_code()


def test_a_trial_needs_the_result_step_and_a_plain_call_computes_unrecorded(make_experiment):
    ex = make_experiment()

    @ex
    def plain():
        return 1

    assert plain().compute() == 1 and ex.trial_id == 0
    with pytest.raises(InvalidArgument, match=r"@ex\.result"):
        ex.run_trial(plain())
    with pytest.raises(InvalidArgument, match=r"@ex\.result"):
        ex.run_trials(plain(), [{}])


def test_building_a_graph_runs_nothing(make_experiment):
    ex = make_experiment()
    calls = []

    @ex.result
    def step():
        calls.append(1)
        return 1

    step()
    assert calls == [] and ex.trial_id == 0


def test_trial_ids_inside_and_outside_a_trial(make_experiment):
    ex = make_experiment()
    seen = {}

    @ex.result
    def step():
        seen["current"] = ex.current_trial_id
        with pytest.raises(TrialStateError, match="current_trial_id"):
            _ = ex.trial_id
        return 1

    step().compute()
    step().compute()
    assert seen["current"] == 2 and ex.trial_id == 2
    with pytest.raises(TrialStateError, match="no trial"):
        _ = ex.current_trial_id


def test_save_metric_outside_a_trial_is_refused(make_experiment):
    ex = make_experiment()
    with pytest.raises(TrialStateError, match="inside a step"):
        ex.save_metric("loss", 0, 1.0)


@pytest.mark.parametrize("epoch", [1.5, "3", None])
def test_save_metric_refuses_a_non_int_epoch(make_experiment, epoch):
    ex = make_experiment()

    @ex.result
    def step():
        ex.save_metric("loss", epoch, 1.0)

    with pytest.raises(InvalidArgument, match="epoch must be an int"):
        step().compute()


def test_metrics_are_written_in_batches_not_per_point(make_experiment, memory_backend, monkeypatch):
    ex = make_experiment()
    batches = []
    original = MemoryExperimentStore.append_metrics

    def counting(self, batch):
        batches.append(sum(len(series) for _, _, series in batch))
        return original(self, batch)

    monkeypatch.setattr(MemoryExperimentStore, "append_metrics", counting)

    @ex.result
    def train():
        for i in range(12_000):
            ex.save_metric("loss", i, 1.0 / (i + 1))
            ex.save_metric("acc", i, i / 12_000)
        return 1

    began = time.monotonic()
    train().compute()
    # Count-triggered batches, plus at most one per second the step ran (the periodic flush).
    periodic = (time.monotonic() - began) / metrics.FLUSH_EVERY_SECONDS + 1
    assert sum(batches) == 24_000
    assert len(batches) <= 24_000 // metrics.FLUSH_EVERY_POINTS + 1 + periodic
    frame = ex.load_metric("loss", 1)
    assert len(frame) == 12_000 and frame.loc[11_999, 1] == pytest.approx(1 / 12_000)


def test_redefining_a_step_replaces_it_and_logs_the_code_change(make_experiment, caplog):
    ex = make_experiment()

    @ex.result
    def model():
        return 1

    call = model()
    assert call.compute() == 1

    @ex.result
    def model():
        return 2

    with caplog.at_level(logging.WARNING, logger="xptrack"):
        assert call.compute() == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(m.startswith("Code context has been changed: model") for m in warnings)
    assert any("-    return 1" in m and "+    return 2" in m for m in warnings)
    assert "return 1" in ex.get_code(1) and "return 2" in ex.get_code(2)


def test_an_unchanged_step_logs_no_code_warning(make_experiment, caplog):
    ex = make_experiment()

    @ex.result
    def model():
        return 1

    with caplog.at_level(logging.WARNING, logger="xptrack"):
        model().compute()
        model().compute()
    assert not [r for r in caplog.records if "Code context" in r.getMessage()]


def test_seeds_are_logged_and_recorded(make_experiment, caplog):
    ex = make_experiment(seed=7)

    @ex.result
    def draw():
        import random

        return random.random()

    with caplog.at_level(logging.INFO, logger="xptrack"):
        first = draw().compute()
        second = draw().compute(seed=7)
        third = draw().compute(seed=8)
    assert first == second != third
    messages = [r.getMessage() for r in caplog.records]
    assert "Random seed is initialized with given seed: 7" in messages
    assert list(ex.get_history(verbose=True)["Seed"]) == [7, 7, 8]


def test_a_generated_seed_is_logged_and_recorded(make_experiment, caplog):
    ex = make_experiment()

    @ex.result
    def step():
        return 1

    with caplog.at_level(logging.INFO, logger="xptrack"):
        step().compute()
    line = next(r.getMessage() for r in caplog.records if "generated seed" in r.getMessage())
    assert int(line.rsplit(" ", 1)[1]) == ex.get_history(verbose=True).loc[1, "Seed"]


def test_repr_shows_id_trial_and_backend(make_experiment, memory_backend):
    ex = make_experiment("repr-test")
    assert (
        repr(ex) == "Experiment(id: repr-test, trial_id: 0, "
        f"backend: MemoryBackend('{memory_backend.location}'))"
    )


def test_reopening_loads_the_history(make_experiment, caplog):
    ex = make_experiment("again")

    @ex.result
    def step():
        return 5

    step().compute()
    with caplog.at_level(logging.INFO, logger="xptrack"):
        again = make_experiment("again")
    assert again.trial_id == 1 and again.get_history().loc[1, "Result"] == 5
    assert any(
        r.getMessage().startswith("Loaded existing experiment: Experiment(id: again")
        for r in caplog.records
    )


@pytest.mark.parametrize("bad", ["../x", "a:b", "", "$x", None])
def test_bad_experiment_ids_are_refused(bad, memory_backend):
    with pytest.raises(InvalidName, match="letters, digits"):
        xptrack.Experiment(bad, backend=memory_backend, capture_environment=False)


def test_environment_is_recorded_and_a_change_warned(make_experiment, probe, caplog):
    ex = make_experiment()

    @ex.result
    def step():
        return 1

    step().compute()
    probe.snapshot = type(probe.snapshot)(
        {**probe.snapshot.categories, "requirements": "dask==2\n"}
    )
    with caplog.at_level(logging.WARNING, logger="xptrack"):
        step().compute()
    assert ex.get_python_packages(1) == ["dask==1"] and ex.get_python_packages(2) == ["dask==2"]
    assert ex.get_environment(1, "python") == {"version": "3.11"}
    warning = next(
        r.getMessage() for r in caplog.records if "Environment has been changed" in r.getMessage()
    )
    assert (
        warning.startswith("Environment has been changed: requirements") and "+dask==2" in warning
    )


def test_unstorable_parameter_records_nothing(make_experiment):
    ex = make_experiment()
    f = ex.parameter("f")

    @ex.result
    def step(f):
        return 1

    ex.set_parameters(f=lambda: 1)
    with pytest.raises(xptrack.UnstorableValue, match="pickling it failed"):
        step(f).compute()
    assert ex.get_history().empty


def test_parameters_of_every_kind_come_back_from_history(make_experiment):
    ex = make_experiment()
    p = ex.parameter("p")

    @ex.result
    def step(p):
        return p

    values = [math.nan, 2**70, "", None, (1, 2), {"k": [1]}]
    for value in values:
        ex.set_parameters(p=value)
        step(p).compute()
    got = [ex.get_parameters(i + 1)["p"] for i in range(len(values))]
    assert math.isnan(got[0]) and got[1:] == values[1:]
    assert isinstance(ex.get_history().loc[5, "p"], tuple)


def test_history_of_an_empty_experiment_has_the_columns(make_experiment):
    ex = make_experiment()
    ex.parameter("a")
    frame = ex.get_history()
    assert frame.empty and list(frame.columns)[:2] == ["a", "Result"]
    assert isinstance(frame, pd.DataFrame)
