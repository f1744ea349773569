"""Reproducibility on every store: code per trial, purity check, seeds, environment capture."""

from __future__ import annotations

import json
import logging
import pathlib
import random
import uuid

import numpy as np
import pytest

import xptrack
from xptrack.adapters.environment import SystemEnvironmentProbe
from xptrack.domain.environment import CATEGORY_FORMATS


@pytest.fixture(params=["local", "redis", "mongo"])
def backend(request, tmp_path):
    """The ``backend`` argument of one store kind (servers started only when asked for)."""
    if request.param == "local":
        return pathlib.Path(tmp_path / "store")
    return request.getfixturevalue(f"{request.param}_url")


def new_id() -> str:
    return f"repro{uuid.uuid4().hex[:10]}"


def warnings_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_code_is_saved_per_trial_and_a_change_warned_with_its_diff(backend, caplog):
    ex = xptrack.Experiment(new_id(), backend=backend, capture_environment=False)

    @ex.result
    def model():
        return 1

    model().compute()

    @ex.result
    def model():
        return 2

    with caplog.at_level(logging.WARNING, logger="xptrack"):
        model().compute()
    assert "return 1" in ex.get_code(1) and "return 2" in ex.get_code(2)
    assert "@ex.result" in ex.get_code(2)
    message = next(m for m in warnings_of(caplog) if m.startswith("Code context has been changed"))
    assert message.splitlines()[0] == "Code context has been changed: model"
    assert "-    return 1" in message and "+    return 2" in message


_calls = {"n": 0}


def test_purity_warning_for_an_impure_step_and_none_for_a_pure_one(backend, caplog):
    ex = xptrack.Experiment(new_id(), backend=backend, capture_environment=False)
    x = ex.parameter("x", default=3)

    @ex
    def pure(x):
        return x * 2

    @ex
    def impure(x):
        _calls["n"] += 1
        return x + _calls["n"]

    @ex.result
    def total(a, b):
        return a + b

    with caplog.at_level(logging.WARNING, logger="xptrack"):
        total(pure(x), impure(x)).compute(seed=1)
        total(pure(x), impure(x)).compute(seed=1)
    purity = [m for m in warnings_of(caplog) if "same input" in m]
    assert len(purity) == 1
    assert purity[0].startswith(
        "Experiment step result is changed with the same input: (step: impure, args: (3,)"
    )


def parallel_draws(ex):
    @ex
    def left():
        return [random.random(), float(np.random.rand()), float(xptrack.step_rng().random())]

    @ex
    def right():
        return [random.random(), float(np.random.rand()), float(xptrack.step_rng().random())]

    @ex.result
    def both(a, b):
        return a + b

    return both(left(), right())


@pytest.mark.parametrize("scheduler", ["threads", "processes"])
def test_same_seed_same_result_with_parallel_steps(backend, scheduler):
    ex = xptrack.Experiment(new_id(), backend=backend, capture_environment=False)
    call = parallel_draws(ex)
    first = call.compute(seed=42, scheduler=scheduler)
    second = call.compute(seed=42, scheduler=scheduler)
    other = call.compute(seed=43, scheduler=scheduler)
    if scheduler == "threads":
        # Threads share the global generators, so only the per-step generator is exact there.
        first, second, other = first[2::3], second[2::3], other[2::3]
    assert first == second and first != other
    assert len(set(first)) == len(first)  # the two steps got different seeds


def test_every_environment_category_is_stored_and_read_back(backend, tmp_path):
    experiment_id = new_id()
    ex = xptrack.Experiment(experiment_id, backend=backend)

    @ex.result
    def step():
        return 1

    step().compute()
    environment = ex.get_environment(1)
    assert list(environment) == list(CATEGORY_FORMATS)
    assert environment["python"]["implementation"] == "CPython"
    assert isinstance(environment["device"], dict) and isinstance(environment["git"], dict)
    assert any(line.startswith("pandas==") for line in ex.get_python_packages(1))
    assert ex.get_environment(1, "numpy") == environment["numpy"]
    if isinstance(backend, pathlib.Path):
        for category, extension in CATEGORY_FORMATS.items():
            path = backend / "environment" / f"{category}_{experiment_id}_1.{extension}"
            text = path.read_text()
            if extension == "json":
                json.loads(text)


def test_a_package_change_between_trials_is_warned(backend, tmp_path, monkeypatch, caplog):
    site = tmp_path / "site"
    (site / "fake_pkg-1.0.dist-info").mkdir(parents=True)
    (site / "fake_pkg-1.0.dist-info" / "METADATA").write_text("Name: fake-pkg\nVersion: 1.0\n")
    monkeypatch.syspath_prepend(str(site))
    ex = xptrack.Experiment(new_id(), backend=backend, probe=SystemEnvironmentProbe(tmp_path))

    @ex.result
    def step():
        return 1

    step().compute()
    (site / "fake_pkg-1.0.dist-info").rename(site / "fake_pkg-2.0.dist-info")
    (site / "fake_pkg-2.0.dist-info" / "METADATA").write_text("Name: fake-pkg\nVersion: 2.0\n")
    with caplog.at_level(logging.WARNING, logger="xptrack"):
        step().compute()
    assert "fake-pkg==1.0" in ex.get_python_packages(1)
    assert "fake-pkg==2.0" in ex.get_python_packages(2)
    message = next(m for m in warnings_of(caplog) if m.startswith("Environment has been changed"))
    assert message.splitlines()[0] == "Environment has been changed: requirements"
    assert "-fake-pkg==1.0" in message and "+fake-pkg==2.0" in message
