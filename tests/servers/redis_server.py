"""pytest plugin: redis-servers of the tests' own, on free loopback ports.

Tests never touch a Redis they did not start (not the one on 6379, not anybody's):
each server here is a throwaway ``redis-server`` with no persistence, living in a
temporary folder, killed at the end of the session. Tests share a server and never
flush it, so each test works under an experiment id of its own
(:func:`new_experiment_id`).

When ``redis-server`` is not installed the Redis tests are skipped, unless
``XPTRACK_REQUIRE_REDIS=1`` (as in CI) asks for them: then they fail, saying what to
install.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import uuid4

import attrs
import pytest

from tests.servers.processes import free_port, redis_answers, stop, wait_until_answers

if TYPE_CHECKING:
    from xptrack.adapters.redis import RedisBackend

REQUIRE_ENV = "XPTRACK_REQUIRE_REDIS"
#: The password of the password-protected server (tests check it never leaks).
REDIS_TEST_PASSWORD = "s3cret-Pa55word"
_START_TIMEOUT = 10.0


def new_experiment_id() -> str:
    """A fresh experiment id, so that tests sharing one server never see each other's keys."""
    return f"t{uuid4().hex[:12]}"


@attrs.frozen
class RedisServer:
    """A running redis-server started by the tests."""

    port: int
    unix_socket: Path
    password: str | None
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def unix_url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"unix://{auth}{self.unix_socket}?db=0"


def _redis_server_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is not None:
        return binary
    message = "redis-server is not installed (install it with: apt-get install redis-server)"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {message}", pytrace=False)
    pytest.skip(message)


@contextlib.contextmanager
def running_redis_server(folder: Path, password: str | None = None) -> Iterator[RedisServer]:
    """Start a redis-server of our own in ``folder``; stop it on exit."""
    binary = _redis_server_binary()
    sock = folder / "redis.sock"
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    args += ["--dir", str(folder), "--unixsocket", str(sock), "--unixsocketperm", "700"]
    if password:
        args += ["--requirepass", password]
    log = folder / "redis.log"
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        if not wait_until_answers(process, lambda: redis_answers(port, password), _START_TIMEOUT):
            raise RuntimeError(
                f"redis-server did not answer PING on port {port}: {log.read_text()}"
            )
        yield RedisServer(port, sock, password, process)
    finally:
        stop(process)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server without password, on TCP and a unix socket, for the whole session."""
    with running_redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def redis_password_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server that requires :data:`REDIS_TEST_PASSWORD` (started on first use)."""
    folder = tmp_path_factory.mktemp("redis-auth")
    with running_redis_server(folder, password=REDIS_TEST_PASSWORD) as server:
        yield server


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    """``redis://127.0.0.1:<port>/0`` of the session's own server."""
    return redis_server.url


@pytest.fixture
def redis_backend(redis_url: str) -> Iterator[RedisBackend]:
    """A :class:`RedisBackend` on the session's server (use a fresh experiment id per test)."""
    from xptrack.adapters.redis import RedisBackend

    backend = RedisBackend(redis_url)
    yield backend
    backend.close()


@pytest.fixture
def redis_experiment_id() -> str:
    """A fresh experiment id for this test."""
    return new_experiment_id()
