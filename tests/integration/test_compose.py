"""Steps compose like dask.delayed: lazy values, dask collections, dask's own entry points."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import dask
import dask.array as da
import pytest

import xptrack
from xptrack.errors import NeedsATrial

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def build(ex: xptrack.Experiment) -> SimpleNamespace:
    """A daskperiment-style experiment: parameters and steps used as Delayed objects are."""
    a = ex.parameter("a")
    b = ex.parameter("b", default=2)

    @ex
    def add(x, y):
        return x + y

    @ex
    def inc(x):
        return x + 1

    @ex
    def pair(x, y):
        return {"sum": x + y, "items": [x, y], "point": complex(x, y)}

    @ex.result
    def report(*values):
        return list(values)

    return SimpleNamespace(**locals())


def composite(s: SimpleNamespace) -> Any:
    """One result call using every composition form of API.md."""
    p = s.pair(s.a, s.b)
    scaled = dask.delayed(lambda v: v * 100)(s.a)  # an undecorated dask.delayed function
    return s.report(
        s.a + 3,
        -s.a,
        s.inc(s.a * s.b),
        s.add(s.a, s.a) + 1,
        p["items"][1],
        p["point"].imag,
        p["sum"].bit_length(),
        s.inc(scaled),
        da.arange(4, chunks=2).sum(),  # a dask array as a step argument
        s.a > 1,
    )


def expected(a: int, b: int = 2) -> list[Any]:
    return [
        a + 3,
        -a,
        a * b + 1,
        2 * a + 1,
        b,
        float(b),
        (a + b).bit_length(),
        100 * a + 1,
        6,
        a > 1,
    ]


@pytest.fixture
def ex(tmp_path):
    return xptrack.Experiment("compose", backend=tmp_path / "store", capture_environment=False)


def test_every_composition_form_runs_inside_one_recorded_trial(ex):
    s = build(ex)
    call = composite(s)
    ex.set_parameters(a=1)
    assert call.compute(seed=1) == expected(1)
    ex.set_parameters(a=5)  # the same graph, the new values: the dask.delayed one too
    assert call.compute(seed=1) == expected(5)
    history = ex.get_history()
    assert list(history.index) == [1, 2] and list(history["a"]) == [1, 5]
    assert history.loc[2, "Result"] == expected(5)


def test_composition_under_the_processes_scheduler(ex):
    s = build(ex)
    ex.set_parameters(a=3)
    assert composite(s).compute(seed=1, scheduler="processes") == expected(3)
    assert ex.trial_id == 1


def test_a_sweep_gives_each_trial_its_own_values_through_dask_delayed(ex):
    s = build(ex)
    call = composite(s)
    results = ex.run_trials(call, [{"a": 1}, {"a": 2}, {"a": 4}])
    assert results == [expected(1), expected(2), expected(4)]
    assert list(ex.get_history()["a"]) == [1, 2, 4]


def test_a_failing_operation_fails_only_its_own_trial_of_a_sweep(ex):
    s = build(ex)
    call = s.report(s.pair(s.a, s.b)["items"][s.a])  # IndexError for a >= 2
    outcomes = ex.run_trials(call, [{"a": 0}, {"a": 5}, {"a": 1}], errors="return")
    assert outcomes[0] == [0] and outcomes[2] == [2]
    assert isinstance(outcomes[1], IndexError)
    history = ex.get_history()
    assert list(history["Success"]) == [True, False, True]
    assert history.loc[2, "Description"] == "IndexError: list index out of range"


def test_steps_reached_through_dask_delayed_are_recorded_as_steps_of_the_trial(ex):
    s = build(ex)
    ex.set_parameters(a=1)
    s.report(dask.delayed(lambda v: v * 2)(s.inc(s.a))).compute(seed=1)
    record = ex.backend.open(ex.id).get_trial(1)  # (ex.get_trial(1).steps once it exists)
    assert {step.name for step in record.steps} == {"inc", "report"}


def test_a_dask_array_built_on_a_step_call_is_computed_in_the_trial(ex):
    import numpy as np

    n = ex.parameter("n")

    @ex
    def vector(n):
        return np.arange(n)

    @ex.result
    def total(x):
        return int(x.sum())

    call = total(2 * da.from_delayed(vector(n), shape=(np.nan,), dtype=int))
    assert ex.run_trials(call, [{"n": 3}, {"n": 5}]) == [6, 20]
    assert list(ex.get_history()["n"]) == [3, 5]


def test_parameters_and_plain_calls_compute_their_value_recording_nothing(ex):
    s = build(ex)
    ex.set_parameters(a=4)
    assert s.a.compute() == 4 and (s.a * s.b).compute() == 8
    assert s.inc(s.a).compute() == 5 and (s.add(s.a, s.a) + 1).compute() == 9
    assert s.pair(s.a, s.b)["items"].compute(scheduler="processes") == [4, 2]
    assert dask.compute(s.inc(s.a), s.a, {"b": s.b}) == (5, 4, {"b": 2})
    assert dask.delayed(lambda v: v + 1)(s.inc(s.a)).compute() == 6
    assert ex.trial_id == 0 and ex.get_history().empty


def test_a_plain_call_computed_with_a_seed_draws_as_in_a_trial_of_that_seed(ex):
    import random

    @ex
    def draw():
        return random.random()

    @ex.result
    def result(x):
        return x

    assert draw().compute(seed=7) == result(draw()).compute(seed=7)


def test_undefined_parameters_are_named_outside_a_trial_too(ex):
    s = build(ex)
    with pytest.raises(xptrack.UndefinedParameter, match="'a'"):
        s.inc(s.a).compute()


def test_dask_compute_of_a_result_call_raises_before_any_step_runs(ex):
    ran = []
    a = ex.parameter("a", default=1)

    @ex
    def slow(x):
        ran.append(x)
        return x

    @ex.result
    def score(x):
        return x

    first, second = score(slow(a)), score(slow(a) + 1)
    for computation in (
        lambda: dask.compute(first),
        lambda: dask.compute(first, second),
        lambda: dask.persist(first),
        lambda: (slow(a) + first).compute(),
    ):
        with pytest.raises(NeedsATrial, match=r"call\.compute\(\).*ex\.run_trials"):
            computation()
    assert ran == [] and ex.trial_id == 0
    assert isinstance(NeedsATrial("x"), xptrack.XptrackError)


def test_dask_sees_the_whole_graph_of_a_result_call(ex):
    from dask.base import collections_to_expr  # what dask.visualize draws

    s = build(ex)
    call = s.report(s.inc(s.a), s.add(s.a, s.b))
    keys = {str(key).split("-")[0] for key in collections_to_expr([call]).__dask_graph__()}
    assert {"report", "inc", "add", "parameter"} <= keys
    ex.set_parameters(a=1)
    (optimized,) = dask.optimize(s.inc(s.a))  # a graph of the values at this moment
    ex.set_parameters(a=10)
    assert dask.compute(optimized)[0] == 2


def test_lazy_values_refuse_truth_and_iteration_clearly(ex):
    s = build(ex)
    with pytest.raises(TypeError, match="truth is not known"):
        bool(s.a)
    with pytest.raises(TypeError, match="length is not known"):
        list(s.inc(s.a))
    with pytest.raises(AttributeError):
        s.inc(s.a)._private  # noqa: B018


# --- on a distributed cluster (few tests: starting one costs seconds) ---------------------------


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=1, processes=True, threads_per_worker=2, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.mark.slow
def test_composition_on_a_cluster_records_one_trial(client, ex):
    s = build(ex)
    ex.set_parameters(a=2)
    assert composite(s).compute(seed=1) == expected(2)
    assert ex.run_trials(composite(s), [{"a": 3}, {"a": 4}]) == [expected(3), expected(4)]
    assert list(ex.get_history()["a"]) == [2, 3, 4]


@pytest.mark.slow
def test_client_compute_gives_plain_values_and_refuses_a_result_call(client, ex):
    s = build(ex)
    ex.set_parameters(a=2)
    assert client.compute(s.inc(s.a * s.b)).result() == 5
    assert client.compute(dask.delayed(lambda v: -v)(s.inc(s.a))).result() == -3
    with pytest.raises(NeedsATrial, match=r"call\.compute\(\)"):
        client.compute(s.report(s.a)).result()
    assert ex.trial_id == 0


# --- xptrack run finds the result call a script builds, bound to a name or not -----------------

BARE_SCRIPT = """
import xptrack

ex = xptrack.Experiment('bare', backend='local')
a = ex.parameter('a')
b = ex.parameter('b', default=2)

@ex
def prepare(a, b):
    return a + b

@ex.result
def calculate_score(s):
    return 10 / s

d = prepare(a, b)
calculate_score(d)
"""


def _xptrack_run(tmp_path, script_text: str, *arguments: str, options: tuple[str, ...] = ()):
    import pathlib
    import sys

    from tests.integration.test_local_quickstart import run_command

    script = tmp_path / "bare.py"
    script.write_text(script_text)
    command = str(pathlib.Path(sys.executable).with_name("xptrack"))
    return run_command(command, "run", *options, str(script), *arguments, cwd=tmp_path)


def test_xptrack_run_runs_a_bare_result_call(tmp_path):
    done = _xptrack_run(tmp_path, BARE_SCRIPT, "a=3", "--seed", "1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == repr(2.0)
    assert xptrack.Experiment("bare", backend="local").get_history().loc[1, "a"] == 3


def test_xptrack_run_with_several_result_calls_lists_them(tmp_path):
    done = _xptrack_run(tmp_path, BARE_SCRIPT + "best = calculate_score(prepare(b, b))\n", "a=3")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "calculate_score(...) at " in done.stderr and "bare.py:17" in done.stderr
    assert "best" in done.stderr and "--result NAME" in done.stderr
    chosen = _xptrack_run(
        tmp_path,
        BARE_SCRIPT + "best = calculate_score(prepare(b, b))\n",
        options=("--result", "best"),
    )
    assert chosen.returncode == 0, chosen.stderr
    assert chosen.stdout.strip() == repr(2.5)
