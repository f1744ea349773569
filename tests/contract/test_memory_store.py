"""The in-memory store against the contract every store passes."""

from __future__ import annotations

import uuid

import pytest

from xptrack.adapters.memory import MemoryBackend, MemoryExperimentStore
from xptrack.ports.repositories import Backend
from xptrack.testing import StoreContract
from xptrack.testing.machine import StoreFactory


class TestMemoryStore(StoreContract):
    supports_processes = False  # each process would see its own empty copy

    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        return MemoryExperimentStore

    @pytest.fixture
    def store_backend(self) -> Backend:
        return MemoryBackend(f"contract-{uuid.uuid4().hex}")
