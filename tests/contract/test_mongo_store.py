"""The MongoDB store against the contract every store passes (SecantusDB or XPTRACK_MONGO_URI)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from xptrack.adapters.mongo import MongoBackend, MongoExperimentStore
from xptrack.ports.repositories import Backend
from xptrack.testing import StoreContract
from xptrack.testing.machine import StoreFactory

pytestmark = pytest.mark.mongo


class OpenedExperiments(Backend):
    """A MongoBackend that notes every experiment it opens, so the test can drop them after:
    the tests share one server, and the contract opens experiments under ids of its own."""

    def __init__(self, backend: MongoBackend) -> None:
        self.backend = backend
        self.opened: set[str] = set()

    @property
    def location(self) -> str:
        return self.backend.location

    def open(self, experiment_id: str) -> MongoExperimentStore:
        self.opened.add(experiment_id)
        return self.backend.open(experiment_id)


class TestMongoStore(StoreContract):
    supports_processes = True
    # Every example opens a fresh collection (nine indexes) on a server several times slower
    # than mongod; 25 examples keep the binding near a minute. XPTRACK_CONTRACT_EXAMPLES
    # overrides it (a nightly run can ask for more).
    max_examples = 25

    @pytest.fixture
    def store_factory(
        self, mongo_backend: MongoBackend, mongo_collections: Callable[[], str]
    ) -> StoreFactory:
        return lambda: mongo_backend.open(mongo_collections())

    @pytest.fixture
    def store_backend(self, mongo_backend: MongoBackend) -> Iterator[Backend]:
        tracked = OpenedExperiments(mongo_backend)
        yield tracked
        for experiment_id in tracked.opened:
            mongo_backend.open(experiment_id).delete_experiment()
