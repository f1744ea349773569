"""The API.md session, as written, on every store; a second process sees what it recorded."""

from __future__ import annotations

import pickle

import pytest

import xptrack
from tests.sessions import build_session


def test_the_api_session_on_every_store(backend_uri, experiment_id):
    ex = xptrack.Experiment(experiment_id, backend=backend_uri)
    s = build_session(ex)
    ex.set_parameters(a=1, b=2)
    assert s.compute() == pytest.approx(10 / 3)
    ex.set_parameters(b=3)
    assert s.compute(seed=1) == pytest.approx(2.5)
    assert repr(ex).startswith(f"Experiment(id: {experiment_id}, trial_id: 2, backend: ")

    # A new handle, as a second process would open it from the same backend argument.
    again = xptrack.Experiment(experiment_id, backend=pickle.loads(pickle.dumps(ex.backend)))
    history = again.get_history(verbose=True)
    assert list(history.index) == [1, 2] and list(history["b"]) == [2, 3]
    assert list(history["Success"]) == [True, True] and history.loc[2, "Seed"] == 1
    assert again.get_parameters(2) == {"a": 1, "b": 3}
    assert again.load_metric("loss", [1, 2]).loc[0].tolist() == pytest.approx([1 / 3, 1 / 4])
    assert again.get_persisted("features", 2) == [4, 4, 4]
    assert "def score(s, f):" in again.get_code(2)
    assert again.get_environment(2, "python")["implementation"] == "CPython"
