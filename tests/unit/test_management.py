"""Managing what a store holds: tags, notes, deleting trials, listing and deleting experiments."""

from __future__ import annotations

import pathlib

import pytest

import xptrack
from tests.sessions import build_session
from xptrack.errors import InvalidArgument, InvalidName, NotFoundError


def two_trials(ex):
    s = build_session(ex, epochs=3)
    ex.set_parameters(a=1)
    s.compute(seed=1)
    s.compute(seed=2)
    return s


def test_tags_and_notes_show_in_the_verbose_history(make_experiment):
    ex = make_experiment()
    two_trials(ex)
    ex.tag(1, "best", "baseline")
    ex.tag(1, "best")  # each tag once
    ex.untag(1, "baseline", "never given")
    ex.tag(2, "v1.2")
    ex.note(2, "lr too high\nrerun with 0.01")
    history = ex.get_history(verbose=True)
    assert list(history.columns[-5:]) == ["Seed", "Started", "Status", "Tags", "Note"]
    assert history.loc[1, "Tags"] == ["best"] and history.loc[1, "Note"] == ""
    assert history.loc[2, "Tags"] == ["v1.2"]
    assert history.loc[2, "Note"] == "lr too high\nrerun with 0.01"
    assert list(history["Status"]) == ["finished", "finished"]
    ex.note(2, "")
    assert ex.get_history(verbose=True).loc[2, "Note"] == ""
    assert "Tags" not in ex.get_history().columns


def test_labels_given_during_a_trial_survive_its_end(make_experiment):
    ex = make_experiment()
    x = ex.parameter("x", default=1)

    @ex.result
    def labelled(x):
        ex.tag(ex.current_trial_id, "tagged-while-running")
        ex.note(ex.current_trial_id, "from inside")
        return x

    labelled(x).compute()
    history = ex.get_history(verbose=True)
    assert history.loc[1, "Tags"] == ["tagged-while-running"]
    assert history.loc[1, "Note"] == "from inside"


@pytest.mark.parametrize("bad", ["", " padded", "tab\there", 3, "x" * 101])
def test_bad_tags_are_refused_saying_what_a_tag_is(make_experiment, bad):
    ex = make_experiment()
    two_trials(ex)
    with pytest.raises(InvalidArgument, match="tag"):
        ex.tag(1, bad)
    assert ex.get_history(verbose=True).loc[1, "Tags"] == []


def test_tagging_needs_a_tag_and_a_known_trial(make_experiment):
    ex = make_experiment()
    two_trials(ex)
    with pytest.raises(InvalidArgument, match="at least one tag"):
        ex.tag(1)
    with pytest.raises(NotFoundError, match="no trial 3"):
        ex.tag(3, "best")
    with pytest.raises(InvalidArgument, match="note must be a string"):
        ex.note(1, None)


def test_a_deleted_trial_is_gone_and_its_id_not_reused(make_experiment):
    ex = make_experiment()
    s = two_trials(ex)
    ex.tag(1, "doomed")
    ex.delete_trial(1)
    assert list(ex.get_history().index) == [2]
    with pytest.raises(NotFoundError):
        ex.get_persisted("features", 1)
    with pytest.raises(NotFoundError):
        ex.load_metric("loss", 1)
    with pytest.raises(NotFoundError, match="no trial 1"):
        ex.delete_trial(1)
    s.compute()
    assert list(ex.get_history().index) == [2, 3]
    assert ex.get_history(verbose=True).loc[3, "Tags"] == []


def test_experiments_of_the_local_default_store_are_listed_and_deleted(probe):
    for experiment_id in ("beta", "alpha"):
        two_trials(xptrack.Experiment(experiment_id, probe=probe))
    assert xptrack.list_experiments() == ["alpha", "beta"]
    xptrack.delete_experiment("alpha")
    assert xptrack.list_experiments() == ["beta"]
    assert not pathlib.Path("xptrack_cache/alpha").exists()
    assert xptrack.Experiment("beta", probe=probe).trial_id == 2
    with pytest.raises(NotFoundError, match=r"no experiment 'alpha'.*\['beta'\]"):
        xptrack.delete_experiment("alpha")
    with pytest.raises(InvalidName):
        xptrack.delete_experiment("../beta")


def test_experiments_in_a_folder_and_in_memory_are_listed(probe, memory_backend):
    folder = pathlib.Path("shared")
    for experiment_id in ("one", "two"):
        two_trials(xptrack.Experiment(experiment_id, backend=folder, probe=probe))
        xptrack.Experiment(experiment_id, backend=memory_backend, probe=probe)
    assert xptrack.list_experiments(folder) == ["one", "two"]
    assert xptrack.list_experiments(f"memory://{memory_backend.name}") == ["one", "two"]
    xptrack.delete_experiment("one", folder)
    assert xptrack.list_experiments(folder) == ["two"]
    assert xptrack.list_experiments() == []  # the default store was never used
