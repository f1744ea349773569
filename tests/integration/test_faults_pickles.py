"""Users' pickles are never unpickled by the history, metrics or any bulk read: they show as
``<pickled TYPE, N bytes>``; only a call handing the one value to the user loads it."""

from __future__ import annotations

import base64
import pickle
from fractions import Fraction

from tests.integration import _steps
from tests.integration.test_security import TAG, Planted, marker, plant_parameter, two_trials

__all__ = ["marker"]  # the fixture, used by name


def test_a_planted_pickle_in_a_parameter_runs_nothing_and_leaves_the_history_readable(
    backend_kind, backend_uri, experiment_id, marker
):
    ex = two_trials(backend_uri, experiment_id)
    planted = pickle.dumps(Planted(marker))
    encoded = {TAG: "pickle", "v": base64.b64encode(planted).decode()}  # no type: read opcodes
    plant_parameter(backend_kind, backend_uri, experiment_id, 1, encoded)

    reopened = _steps.open_experiment(backend_uri, experiment_id)
    for experiment in (ex, reopened):
        history = experiment.get_history(verbose=True)
        assert repr(history.loc[1, "x"]) == f"<pickled pathlib.Path.touch, {len(planted)} bytes>"
        assert history.loc[2, "x"] == 2 and list(history["Success"]) == [True, True]
        assert "<pickled pathlib.Path.touch" in history.to_string()
        assert list(experiment.load_metric("x", [1, 2]).columns) == [1, 2]
        assert experiment.get_parameters(2) == {"x": 2}
    assert not marker.exists()


def test_a_users_object_shows_as_a_placeholder_and_loads_when_asked_for_by_trial(
    backend_uri, experiment_id
):
    ex = _steps.open_experiment(backend_uri, experiment_id)
    x = ex.parameter("x")

    @ex.result
    def third(x):
        return x / 3

    ex.set_parameters(x=Fraction(1, 2))
    assert third(x).compute() == Fraction(1, 6)

    history = ex.get_history()
    assert repr(history["x"][1]).startswith("<pickled fractions.Fraction, ")
    assert repr(history["Result"][1]).startswith("<pickled fractions.Fraction, ")
    assert history["Result Type"][1] == "fractions.Fraction"
    assert ex.get_parameters(1) == {"x": Fraction(1, 2)}
