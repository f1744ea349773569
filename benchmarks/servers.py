"""Servers the benchmarks run against: their own, or ones named in the environment.

A ``redis-server`` and a ``secantusd-py`` (MongoDB wire) are started on free loopback
ports in a temporary folder, with no persistence, and stopped at the end. With
``XPTRACK_BENCH_REDIS_URL`` / ``XPTRACK_BENCH_MONGO_URI`` set, that server is used
instead and treated as someone else's: the benchmarks only ever touch the keys and
collections of the experiments they create (ids ``bench-<random>``), never FLUSHDB,
and delete them afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# The loopback-server helpers live with the tests (they are not part of the shipped
# package); benchmarks run as scripts, so the repository root goes on the path first.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.servers.processes import (
    free_port,
    mongo_answers,
    redis_answers,
    stop,
    wait_until_answers,
)

REDIS_ENV = "XPTRACK_BENCH_REDIS_URL"
MONGO_ENV = "XPTRACK_BENCH_MONGO_URI"
MONGO_DATABASE = "xptrack_bench"
_START_TIMEOUT = 60.0


@dataclass
class Server:
    """A server URI, and whether the benchmarks started it (and so may inspect all of it)."""

    kind: str
    uri: str
    owned: bool
    description: str


class ServerUnavailable(RuntimeError):
    """The server cannot be started or reached; the backend's workloads are skipped."""


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[Server]:
    """``XPTRACK_BENCH_REDIS_URL``, or a redis-server of our own for the duration."""
    given = os.environ.get(REDIS_ENV)
    if given:
        yield Server("redis", given, owned=False, description=f"{REDIS_ENV} (not ours)")
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServerUnavailable("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    args += ["--dir", str(folder)]
    log = folder / "redis.log"
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        if not wait_until_answers(process, lambda: redis_answers(port), _START_TIMEOUT):
            raise ServerUnavailable(f"redis-server did not start: {log.read_text()[-500:]}")
        version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
        yield Server(
            "redis",
            f"redis://127.0.0.1:{port}/0",
            owned=True,
            description=f"own {version.split()[2]} on port {port}",
        )
    finally:
        stop(process)


def _secantus_executable() -> str | None:
    beside = Path(sys.executable).with_name("secantusd-py")
    return str(beside) if beside.exists() else shutil.which("secantusd-py")


@contextlib.contextmanager
def mongo_server(folder: Path) -> Iterator[Server]:
    """``XPTRACK_BENCH_MONGO_URI``, or a SecantusDB (MongoDB wire, in memory) of our own."""
    given = os.environ.get(MONGO_ENV)
    if given:
        yield Server("mongo", given, owned=False, description=f"{MONGO_ENV} (not ours)")
        return
    executable = _secantus_executable()
    if executable is None:
        raise ServerUnavailable("secantusd-py is not installed (pip install SecantusDB)")
    port = free_port()
    config = folder / "secantusd.toml"
    config.write_text("")  # an empty config: ignore any secantusd.toml lying around
    args = [executable, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    args += ["--storage-path", ":memory:", "--log-level", "WARNING"]
    log = folder / "secantusd.log"
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=folder)
    try:
        if not wait_until_answers(process, lambda: mongo_answers(port), _START_TIMEOUT):
            raise ServerUnavailable(f"secantusd-py did not start: {log.read_text()[-500:]}")
        # Retryable writes slow this test server down after ~10k of them (see tests/servers).
        uri = f"mongodb://127.0.0.1:{port}/{MONGO_DATABASE}?retryWrites=false"
        yield Server("mongo", uri, owned=True, description=f"own secantusd-py on port {port}")
    finally:
        stop(process)


@contextlib.contextmanager
def servers(kinds: list[str]) -> Iterator[dict[str, Server | str]]:
    """kind -> Server for each of ``kinds`` that could be had, else the reason it could not."""
    with (
        tempfile.TemporaryDirectory(prefix="xptrack-bench-servers-") as temp,
        contextlib.ExitStack() as stack,
    ):
        found: dict[str, Server | str] = {}
        for kind in kinds:
            if kind == "local":
                continue
            folder = Path(temp) / kind
            folder.mkdir()
            starter = {"redis": redis_server, "mongo": mongo_server}[kind]
            try:
                found[kind] = stack.enter_context(starter(folder))
            except ServerUnavailable as error:
                found[kind] = str(error)
        yield found
