"""The Redis store against the contract every store passes, on a redis-server of the tests' own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from xptrack.adapters.redis import RedisBackend, RedisExperimentStore
from xptrack.ports.repositories import Backend
from xptrack.testing import StoreContract, fresh_experiment_id
from xptrack.testing.machine import StoreFactory

pytestmark = pytest.mark.redis


class OpenedExperiments(Backend):
    """A RedisBackend that notes every experiment it opens, so the test can delete them after:
    the tests share one server and never flush it. Pickles (for the process tests) as the
    backend it wraps does."""

    def __init__(self, backend: RedisBackend) -> None:
        self.backend = backend
        self.opened: set[str] = set()

    @property
    def location(self) -> str:
        return self.backend.location

    def open(self, experiment_id: str) -> RedisExperimentStore:
        self.opened.add(experiment_id)
        return self.backend.open(experiment_id)

    def delete_opened(self) -> None:
        for experiment_id in self.opened:
            self.backend.open(experiment_id).delete_experiment()


@pytest.fixture
def opened_experiments(redis_backend: RedisBackend) -> Iterator[OpenedExperiments]:
    tracked = OpenedExperiments(redis_backend)
    yield tracked
    tracked.delete_opened()


class TestRedisStore(StoreContract):
    supports_processes = True

    @pytest.fixture
    def store_factory(self, opened_experiments: OpenedExperiments) -> StoreFactory:
        return lambda: opened_experiments.open(fresh_experiment_id())

    @pytest.fixture
    def store_backend(self, opened_experiments: OpenedExperiments) -> Backend:
        return opened_experiments
