"""ex.get_trial(n).parameters / .result hand a pickled value back, unpickled only when read."""

from __future__ import annotations

import fractions

import pytest

from xptrack.errors import SignatureError


class Model:
    """An object with no JSON form: stored as a pickle."""

    def __init__(self, weight: float) -> None:
        self.weight = weight


def _trial_with_objects(make_experiment):
    ex = make_experiment()
    model = ex.parameter("model")

    @ex.result
    def fit(model):
        return fractions.Fraction(model.weight).limit_denominator(10), Model(model.weight * 2)

    ex.set_parameters(model=Model(1.5))
    fit(model).compute()
    return ex


def test_parameters_and_result_of_get_trial_are_the_users_objects(make_experiment):
    info = _trial_with_objects(make_experiment).get_trial(1)
    assert isinstance(info.parameters["model"], Model) and info.parameters["model"].weight == 1.5
    ratio, doubled = info.result
    assert ratio == fractions.Fraction(3, 2)
    assert isinstance(doubled, Model) and doubled.weight == 3.0


def test_get_trial_unpickles_nothing_until_parameters_or_result_are_read(
    make_experiment, monkeypatch
):
    ex = _trial_with_objects(make_experiment)
    monkeypatch.setenv("XPTRACK_SIGNING_KEY", "a key the unsigned pickles do not carry")
    info = ex.get_trial(1)  # made without loading any pickle: nothing refused yet
    assert (info.status, list(info.steps)) == ("finished", ["fit"])
    assert "PickledValue" in repr(info) or "<pickled" in repr(info)
    with pytest.raises(SignatureError):
        _ = info.parameters
    with pytest.raises(SignatureError):
        _ = info.result
