"""The MongoDB store against the contract every store passes (SecantusDB or XPTRACK_MONGO_URI)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from xptrack.adapters.mongo import MongoBackend
from xptrack.ports.repositories import Backend
from xptrack.testing import StoreContract, TrackedBackend
from xptrack.testing.machine import StoreFactory

pytestmark = pytest.mark.mongo


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
        # The contract opens experiments under ids of its own: drop them after.
        tracked = TrackedBackend(mongo_backend)
        yield tracked
        tracked.delete_opened()
