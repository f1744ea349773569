"""copy_experiment between stores, record by record; ls, history and copy on Redis and MongoDB."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest

import xptrack
from tests.sessions import build_session
from xptrack.application.bootstrap import store_backend
from xptrack.ports.repositories import ExperimentStore
from xptrack.testing.compare import assert_same_value


def xptrack_command(*args: str, cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
    command = [str(pathlib.Path(sys.executable).with_name("xptrack")), *args]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "COLUMNS": "120"}
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False, env=env
    )


def record_experiment(experiment_id: str, backend: Any) -> None:
    """Three trials (finished with tags, a note and a pickled parameter; failed, tagged;
    finished), each with metrics, persisted outputs, code, environment and captured output."""
    ex = xptrack.Experiment(experiment_id, backend=backend)
    a = ex.parameter("a")
    b = ex.parameter("b", default=2)
    ex.parameter("extra", default=None)  # recorded with every trial, used by no step

    @ex
    def prepare(a, b):
        print("preparing", a, b)  # the trial's captured output
        return a + b

    @ex.persist
    def features(s):
        return [s] * 3

    @ex.result
    def score(s, f):
        for i in range(20):
            ex.save_metric("loss", epoch=i, value=1 / (i + s))
        return 10 / s

    s = score(prepare(a, b), features(prepare(a, b)))
    ex.set_parameters(a=1, extra={1, 2})  # a set has no JSON form: stored as a user pickle
    s.compute(seed=1)
    ex.set_parameters(a=-2, extra=None)
    with pytest.raises(ZeroDivisionError):
        s.compute(seed=2)
    ex.set_parameters(a=3)
    s.compute(seed=3)
    ex.tag(1, "best", "baseline")
    ex.note(1, "the first one\nwith two lines")
    ex.tag(2, "broken")
    assert "preparing 1 2" in store_backend(backend).open(experiment_id).load_output(1)


def assert_same_experiment(a: ExperimentStore, b: ExperimentStore) -> None:
    """Every record of ``a`` is in ``b``, the same value (type and bits), and nothing more."""
    assert b.last_trial_id() >= a.last_trial_id()
    records = a.list_trials()
    assert [r.trial_id for r in b.list_trials()] == [r.trial_id for r in records]
    for record in records:
        tid = record.trial_id
        assert_same_value(record, b.get_trial(tid), f"trial {tid}")
        assert b.metric_keys(tid) == a.metric_keys(tid)
        for key in a.metric_keys(tid):
            assert_same_value(a.load_metric(tid, key), b.load_metric(tid, key), f"{key}@{tid}")
        assert b.list_persisted(tid) == a.list_persisted(tid)
        for step in a.list_persisted(tid):
            assert a.load_persisted(step, tid) == b.load_persisted(step, tid)
        assert_same_value(a.load_code(tid), b.load_code(tid), f"code {tid}")
        assert_same_value(a.load_environment(tid), b.load_environment(tid), f"environment {tid}")
        assert_same_value(_output(a, tid), _output(b, tid), f"output {tid}")


def _output(store: ExperimentStore, trial_id: int) -> str | None:
    try:
        return store.load_output(trial_id)
    except xptrack.NotFoundError:
        return None


@pytest.fixture
def servers(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The session's Redis and MongoDB URIs; what the test copies there is deleted after."""
    uris = {
        "redis": request.getfixturevalue("redis_url"),
        "mongo": request.getfixturevalue("mongo_url"),
    }
    yield uris
    for uri in uris.values():
        for experiment_id in xptrack.list_experiments(uri):
            if experiment_id.startswith("cp"):
                xptrack.delete_experiment(experiment_id, uri)


@pytest.mark.redis
@pytest.mark.mongo
def test_local_to_redis_to_mongo_to_local_gives_back_what_went_in(tmp_path, servers):
    experiment_id = f"cp{uuid4().hex[:10]}"
    first, last = tmp_path / "first", tmp_path / "last"
    record_experiment(experiment_id, first)
    steps = []
    assert xptrack.copy_experiment(experiment_id, first, servers["redis"]) == 3
    xptrack.copy_experiment(experiment_id, servers["redis"], servers["mongo"])
    xptrack.copy_experiment(
        experiment_id, servers["mongo"], last, progress=lambda done, total: steps.append(done)
    )
    assert steps == [1, 2, 3]
    original = store_backend(first).open(experiment_id)
    for hop in (servers["redis"], servers["mongo"], last):
        assert_same_experiment(original, store_backend(hop).open(experiment_id))
    copied = xptrack.Experiment(experiment_id, backend=last, capture_environment=False)
    assert copied.get_parameters(1)["extra"] == {1, 2}
    history = copied.get_history(verbose=True)
    assert history.loc[1, "Tags"] == ("baseline", "best") or list(history.loc[1, "Tags"]) == [
        "baseline",
        "best",
    ]
    assert history.loc[1, "Note"] == "the first one\nwith two lines"
    assert list(history["Status"]) == ["finished", "failed", "finished"]
    s = build_session(copied, epochs=1)
    copied.set_parameters(a=1)
    s.compute(seed=1)
    assert copied.trial_id == 4  # the copy's ids go on from the original's, never reused


def test_copy_refuses_to_overwrite_and_names_a_missing_source(tmp_path):
    record_experiment("orig", tmp_path / "a")
    xptrack.copy_experiment("orig", tmp_path / "a", tmp_path / "b", new_id="renamed")
    assert xptrack.list_experiments(tmp_path / "b") == ["renamed"]
    with pytest.raises(xptrack.ConflictError, match="already holds an experiment 'renamed'"):
        xptrack.copy_experiment("orig", tmp_path / "a", tmp_path / "b", new_id="renamed")
    with pytest.raises(xptrack.NotFoundError, match=r"no experiment 'nope'.*its experiments"):
        xptrack.copy_experiment("nope", tmp_path / "a", tmp_path / "b")


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("mongo", marks=pytest.mark.mongo),
    ],
)
def test_ls_history_and_copy_commands_on_a_server(tmp_path, servers, kind):
    experiment_id = f"cp{uuid4().hex[:10]}"
    uri = servers[kind]
    record_experiment(experiment_id, uri)
    listed = xptrack_command("--backend", uri, "ls", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if experiment_id in line)
    assert [cell.strip() for cell in row.split("│")[1:5]] == [experiment_id, "3", "2", "1"]
    history = xptrack_command(
        "--backend", uri, "history", experiment_id, "--format", "csv", cwd=tmp_path
    )
    assert history.returncode == 0, history.stderr
    assert history.stdout.splitlines()[0].startswith("Trial ID,a,b,extra,Result")
    assert len(history.stdout.splitlines()) == 4
    done = xptrack_command(
        "--backend", uri, "copy", experiment_id, "--to", "copied", "--as", "here", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"Copied 3 trials of {experiment_id} to copied as here"
    assert_same_experiment(
        store_backend(uri).open(experiment_id), store_backend(tmp_path / "copied").open("here")
    )
