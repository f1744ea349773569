"""Damaged, foreign or unencodable records give xptrack's errors saying what is accepted, never a
raw UnicodeEncodeError, JSONDecodeError or UnicodeDecodeError."""

from __future__ import annotations

import pytest

from tests.integration import _steps
from tests.integration.test_security import plant
from xptrack.errors import CorruptRecord, UnstorableValue, XptrackError

LONE_SURROGATE = "a\ud800b"


def test_a_lone_surrogate_in_a_parameter_round_trips_exactly(backend_uri, experiment_id):
    ex = _steps.open_experiment(backend_uri, experiment_id)
    ex.run_trials(_echo(ex), [{"x": LONE_SURROGATE}])

    assert ex.get_parameters(1) == {"x": LONE_SURROGATE}
    assert ex.get_history()["Result"][1] == LONE_SURROGATE


def _echo(ex):
    x = ex.parameter("x")

    @ex.result
    def echo(x):
        return x

    return echo(x)


def test_a_lone_surrogate_in_other_text_is_refused_as_unstorable(backend_uri, experiment_id):
    ex = _steps.open_experiment(backend_uri, experiment_id)
    store = ex.backend.open(experiment_id)
    trial_id = store.next_trial_id()

    with pytest.raises(UnstorableValue, match="UTF-8"):
        store.save_code(trial_id, f"x = '{LONE_SURROGATE}'")


def test_a_non_json_environment_record_is_a_corrupt_record(tmp_path, experiment_id):
    folder = tmp_path / "store"
    ex = _steps.open_experiment(folder, experiment_id)
    ex.run_trials(_echo(ex), [{"x": 1}])
    (folder / "environment" / f"device_{experiment_id}_1.json").write_text("{not json")

    with pytest.raises(CorruptRecord, match="'device' environment is not JSON"):
        ex.get_environment(1, "device")


def test_a_code_file_that_is_not_text_is_a_corrupt_record(tmp_path, experiment_id):
    folder = tmp_path / "store"
    ex = _steps.open_experiment(folder, experiment_id)
    ex.run_trials(_echo(ex), [{"x": 1}])
    code = folder / "code" / f"{experiment_id}_1.py"
    code.unlink()  # a hard link to a shared blob: replace the name, not the blob
    code.write_bytes(b"\xff\xfe not utf-8")

    with pytest.raises(CorruptRecord, match="not UTF-8"):
        ex.get_code(1)
    with pytest.raises(XptrackError):
        ex.get_code(1)


# --- one damaged record is isolated to its trial -------------------------------------------------

DAMAGE = {
    "not JSON": lambda kind: ("record" if kind == "local" else "history", b"\x80\x04garbage"),
    "foreign JSON": lambda kind: ("record" if kind == "local" else "history", '{"hello": 1}'),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_trial_record_shows_as_such_and_every_other_trial_as_usual(
    backend_kind, backend_uri, experiment_id, damage
):
    ex = _steps.open_experiment(backend_uri, experiment_id)
    ex.run_trials(_echo(ex), [{"x": 1}, {"x": 2}, {"x": 3}])
    part, data = DAMAGE[damage](backend_kind)
    if backend_kind == "mongo" and isinstance(data, str):
        data = {"hello": 1}
    plant(backend_kind, backend_uri, experiment_id, 2, part, data)

    for experiment in (ex, _steps.open_experiment(backend_uri, experiment_id)):
        history = experiment.get_history(verbose=True)
        assert list(history.index) == [1, 2, 3]
        assert list(history["Result"][[1, 3]]) == [1, 3]
        assert list(history["Success"]) == [True, False, True]
        assert history["Description"][2].startswith("unreadable record: CorruptRecord: ")
        with pytest.raises(CorruptRecord):
            experiment.get_parameters(2)
        assert experiment.get_parameters(3) == {"x": 3}
