"""Integration fixtures: the same test on every persistent store, each in a namespace of its own.

``backend_uri`` is what a user passes as ``Experiment(..., backend=...)``: a folder for the
local store, the URI of the session's own server for Redis and MongoDB. The servers are
started only when a test of theirs runs (``request.getfixturevalue``), so a local-only run
(``-k local`` or ``-m "not redis and not mongo"``) starts none. Tests share each server and
never flush it: every test gets an experiment id of its own (``experiment_id``).
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest

import xptrack

#: The stores every concurrency, crash and security test runs on.
BACKENDS = [
    pytest.param("local", id="local"),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
    pytest.param("mongo", id="mongo", marks=pytest.mark.mongo),
]


@pytest.fixture(params=BACKENDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    """``local``, ``redis`` or ``mongo``."""
    return str(request.param)


@pytest.fixture
def experiment_id() -> str:
    """A fresh experiment id (Redis key prefix, MongoDB collection) for this test."""
    return f"t{uuid4().hex[:12]}"


@pytest.fixture
def backend_uri(
    request: pytest.FixtureRequest, backend_kind: str, tmp_path: pathlib.Path, experiment_id: str
) -> Iterator[Any]:
    """The ``backend`` argument for ``xptrack.Experiment``: a ``pathlib.Path`` for the local
    store, ``redis://…`` or ``mongodb://…/xptrack_test?retryWrites=false`` for the servers.

    Redis keys and MongoDB collections of ``experiment_id`` are removed afterwards, so the
    shared servers do not grow with every test run.
    """
    if backend_kind == "local":
        yield tmp_path / "store"
        return
    uri = request.getfixturevalue("redis_url" if backend_kind == "redis" else "mongo_url")
    yield uri
    xptrack.open_backend(uri, experiment_id).open(experiment_id).delete_experiment()
