"""The Redis store against the contract every store passes, on a redis-server of the tests' own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from xptrack.adapters.redis import RedisBackend
from xptrack.ports.repositories import Backend
from xptrack.testing import StoreContract, TrackedBackend, fresh_experiment_id
from xptrack.testing.machine import StoreFactory

pytestmark = pytest.mark.redis


@pytest.fixture
def opened_experiments(redis_backend: RedisBackend) -> Iterator[TrackedBackend]:
    # The tests share one server and never flush it: delete what the contract opened.
    tracked = TrackedBackend(redis_backend)
    yield tracked
    tracked.delete_opened()


class TestRedisStore(StoreContract):
    supports_processes = True

    @pytest.fixture
    def store_factory(self, opened_experiments: TrackedBackend) -> StoreFactory:
        return lambda: opened_experiments.open(fresh_experiment_id())

    @pytest.fixture
    def store_backend(self, opened_experiments: TrackedBackend) -> Backend:
        return opened_experiments
