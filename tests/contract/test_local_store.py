"""The local store (SQLite + files) against the contract every store passes."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from xptrack.adapters.local import LocalBackend
from xptrack.ports.repositories import Backend
from xptrack.testing import StoreContract, fresh_experiment_id
from xptrack.testing.machine import StoreFactory


class TestLocalStore(StoreContract):
    supports_processes = True

    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> StoreFactory:
        # A folder per store: the state machine makes hundreds, each must start empty.
        folders = (tmp_path / f"store{n}" for n in itertools.count())
        return lambda: LocalBackend(next(folders)).open(fresh_experiment_id())

    @pytest.fixture
    def store_backend(self, tmp_path: Path) -> Backend:
        return LocalBackend(tmp_path / "shared")
