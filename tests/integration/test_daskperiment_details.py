"""What a daskperiment user writes works as it did: the small details of its surface."""

from __future__ import annotations

import logging

import pytest

import xptrack


def test_backend_local_is_the_default_local_store(tmp_path):
    ex = xptrack.Experiment("spelled", backend="local")
    assert repr(ex.backend) == "LocalBackend('xptrack_cache/spelled')"
    assert (tmp_path / "xptrack_cache" / "spelled" / "spelled.db").is_file()


def test_other_strings_are_still_refused_naming_local(tmp_path):
    with pytest.raises(xptrack.InvalidBackend, match="'local'"):
        xptrack.Experiment("spelled", backend="locals")


def test_get_code_puts_two_blank_lines_between_steps_in_definition_order(tmp_path):
    ex = xptrack.Experiment("code", backend=tmp_path / "store")

    @ex
    def first(x):
        return x

    @ex
    def second(x):
        return x + 1

    @ex.result
    def third(x):
        return x * 2

    assert ex.get_code() == (
        "@ex\ndef first(x):\n    return x\n\n\n"
        "@ex\ndef second(x):\n    return x + 1\n\n\n"
        "@ex.result\ndef third(x):\n    return x * 2\n"
    )


def test_a_redefined_step_keeps_its_place_and_the_warning_shows_only_its_change(tmp_path, caplog):
    ex = xptrack.Experiment("redefine", backend=tmp_path / "store", capture_environment=False)
    x = ex.parameter("x", default=1)

    @ex
    def first(x):
        return x

    @ex
    def second(x):
        return x + 1

    @ex.result
    def third(x):
        return x * 2

    third(second(first(x))).compute(seed=1)

    @ex
    def second(x):
        return x + 2

    with caplog.at_level(logging.WARNING, logger="xptrack"):
        assert third(second(first(x))).compute(seed=1) == 6
    code = ex.get_code(2)
    assert code.index("def first") < code.index("def second") < code.index("def third")
    (warning,) = [r.getMessage() for r in caplog.records if "Code context" in r.getMessage()]
    changed = [
        line for line in warning.splitlines() if line[:1] in "+-" and line[:3] not in "+++---"
    ]
    assert changed == ["-    return x + 1", "+    return x + 2"]


def test_integer_metrics_stay_integers_on_every_store(backend_uri, experiment_id):
    ex = xptrack.Experiment(experiment_id, backend=backend_uri, capture_environment=False)

    @ex.result
    def count():
        for epoch in range(3):
            ex.save_metric("seen", epoch=epoch, value=10 * epoch)
            ex.save_metric("loss", epoch=epoch, value=1 / (epoch + 1))
        return 0

    count().compute(seed=1)
    count().compute(seed=2)
    seen = ex.load_metric("seen", [1, 2])
    assert str(seen[1].dtype) == "int64" and seen[2].tolist() == [0, 10, 20]
    assert all(type(v) is int for v in seen[1].tolist())
    assert str(ex.load_metric("loss", 1)[1].dtype) == "float64"


def test_platform_is_another_name_of_the_device_category(tmp_path):
    ex = xptrack.Experiment("environment", backend=tmp_path / "store")

    @ex.result
    def one():
        return 1

    one().compute(seed=1)
    assert ex.get_environment(1, category="platform") == ex.get_environment(1, "device")
    with pytest.raises(xptrack.InvalidArgument, match="platform"):
        ex.get_environment(1, category="platforms")
