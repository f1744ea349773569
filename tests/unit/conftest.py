"""Unit-test helpers: experiments on the in-memory store with a probe we control."""

from __future__ import annotations

import itertools

import pytest

import xptrack
from xptrack.adapters.memory import MemoryBackend
from xptrack.domain.environment import EnvironmentSnapshot
from xptrack.ports.environment import EnvironmentProbe

_namespaces = itertools.count()


class StaticProbe(EnvironmentProbe):
    """An environment probe whose answer the test sets (a real implementation of the port)."""

    def __init__(self, **categories: str) -> None:
        self.snapshot = EnvironmentSnapshot(
            categories or {"python": '{"version": "3.11"}', "requirements": "dask==1\n"}
        )

    def capture(self) -> EnvironmentSnapshot:
        return self.snapshot


@pytest.fixture
def probe():
    return StaticProbe()


@pytest.fixture
def memory_backend():
    return MemoryBackend(f"unit-{next(_namespaces)}")


@pytest.fixture
def make_experiment(memory_backend, probe):
    def make(experiment_id: str = "unit", **kwargs):
        kwargs.setdefault("backend", memory_backend)
        kwargs.setdefault("probe", probe)
        return xptrack.Experiment(experiment_id, **kwargs)

    return make
