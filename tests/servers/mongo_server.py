"""pytest plugin: a MongoDB-wire server of the tests' own, on a free loopback port.

With ``XPTRACK_MONGO_URI`` set (say ``mongodb://127.0.0.1:27017/xptrack_test``) the
tests use that server, a real mongod. Otherwise they start SecantusDB
(``secantusd-py``, a test-only MongoDB-wire server on WiredTiger) in memory for the
session and stop it at the end. Tests share the server, so each works under an
experiment id (collection) of its own and drops it afterwards.

When no server can be started the MongoDB tests are skipped, unless
``XPTRACK_REQUIRE_MONGO=1`` (as in CI) asks for them: then they fail, saying what to
install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn
from uuid import uuid4

import pytest

from tests.servers.processes import free_port, mongo_answers, stop, wait_until_answers

if TYPE_CHECKING:
    from xptrack.adapters.mongo import MongoBackend

URI_ENV = "XPTRACK_MONGO_URI"
REQUIRE_ENV = "XPTRACK_REQUIRE_MONGO"
TEST_DATABASE = "xptrack_test"
_EXECUTABLE = "secantusd-py"
_INSTALL_HINT = (
    "install the test server with `pip install SecantusDB` (or the test extra: "
    "`pip install -e '.[test]'`), or point XPTRACK_MONGO_URI at a running mongod"
)
_START_TIMEOUT = 60.0


def new_experiment_id() -> str:
    """A fresh experiment id (collection), so tests sharing one server never meet."""
    return f"t{uuid4().hex[:12]}"


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}; {_INSTALL_HINT}", pytrace=False)
    pytest.skip(f"{reason}; {_INSTALL_HINT}")


def _secantus_executable() -> str | None:
    beside_python = Path(sys.executable).with_name(_EXECUTABLE)
    if beside_python.exists():
        return str(beside_python)
    return shutil.which(_EXECUTABLE)


def _start_secantus(executable: str, folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start the server in ``folder`` and wait until it answers ping."""
    port = free_port()
    # An empty --config stops the server from picking up a secantusd.toml lying around.
    config = folder / "secantusd.toml"
    config.write_text("")
    args = [executable, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    args += ["--storage-path", ":memory:", "--log-level", "WARNING"]
    log = folder / "secantusd.log"
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=folder)
    if wait_until_answers(process, lambda: mongo_answers(port), _START_TIMEOUT):
        return process, port
    stop(process)
    _unavailable(f"{_EXECUTABLE} did not answer ping on port {port}: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def mongo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``mongodb://127.0.0.1:<port>/xptrack_test?retryWrites=false`` for the whole session
    (or ``XPTRACK_MONGO_URI``)."""
    given = os.environ.get(URI_ENV)
    if given:
        yield given
        return
    executable = _secantus_executable()
    if executable is None:
        _unavailable(f"{_EXECUTABLE} is not installed")
    process, port = _start_secantus(executable, tmp_path_factory.mktemp("secantus"))
    try:
        # Retryable writes slow this server down after ~10k of them; tests do not need them.
        yield f"mongodb://127.0.0.1:{port}/{TEST_DATABASE}?retryWrites=false"
    finally:
        stop(process)


@pytest.fixture
def mongo_backend(mongo_url: str) -> MongoBackend:
    """A :class:`MongoBackend` on the session's server (use :func:`mongo_experiment_id`)."""
    from xptrack.adapters.mongo import MongoBackend

    return MongoBackend(mongo_url)


@pytest.fixture
def mongo_collections(mongo_url: str) -> Iterator[Callable[[], str]]:
    """A maker of fresh experiment ids whose collections are dropped after the test."""
    from xptrack.adapters.mongo import MongoBackend

    made: list[str] = []

    def make() -> str:
        made.append(new_experiment_id())
        return made[-1]

    yield make
    backend = MongoBackend(mongo_url)
    for experiment_id in made:
        backend.open(experiment_id).delete_experiment()


@pytest.fixture
def mongo_experiment_id(mongo_collections: Callable[[], str]) -> str:
    """A fresh experiment id for this test; its collection is dropped afterwards."""
    return mongo_collections()
