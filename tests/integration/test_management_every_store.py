"""Tags, notes, deleting trials and experiments, on every persistent store, as a user does it."""

from __future__ import annotations

import pytest

import xptrack
from tests.sessions import build_session


def test_labels_and_deletions_on_every_store(backend_uri, experiment_id):
    ex = xptrack.Experiment(experiment_id, backend=backend_uri, capture_environment=False)
    s = build_session(ex, epochs=3)
    ex.set_parameters(a=1)
    for seed in (1, 2, 3):
        s.compute(seed=seed)
    ex.tag(2, "best", "ü")
    ex.untag(2, "ü")
    ex.note(3, "diverged")
    ex.delete_trial(1)

    again = xptrack.Experiment(experiment_id, backend=backend_uri, capture_environment=False)
    history = again.get_history(verbose=True)
    assert list(history.index) == [2, 3]
    assert history.loc[2, "Tags"] == ["best"] and history.loc[3, "Note"] == "diverged"
    with pytest.raises(xptrack.NotFoundError):
        again.get_persisted("features", 1)
    assert experiment_id in xptrack.list_experiments(backend_uri)
    xptrack.delete_experiment(experiment_id, backend_uri)
    assert experiment_id not in xptrack.list_experiments(backend_uri)
