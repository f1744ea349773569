"""How long a trial takes to fail when its store stops answering in the middle of it.

Starts its own redis-server and secantusd-py on free loopback ports, runs one trial per store
whose step saves metric points and then pauses the server (SIGSTOP), and prints the seconds
from the trial's start until ``compute()`` raised ``StoreUnavailable``, with the default
budgets (README "Faults")::

    .venv/bin/python benchmarks/store_pause.py

Not a test: the figure depends on the machine's load; the tests only check that the error
comes (tests/integration/test_faults_timeouts.py).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import xptrack
from xptrack.errors import StoreUnavailable

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


def _stopped(pid: int) -> bool:
    states = {
        p.read_text().rsplit(")", 1)[1].split()[0] for p in Path(f"/proc/{pid}/task").glob("*/stat")
    }
    return states == {"T"}


def pause(process: subprocess.Popen[bytes]) -> None:
    """SIGSTOP the server and wait (bounded) until every thread of it has stopped."""
    os.kill(process.pid, signal.SIGSTOP)
    deadline = time.monotonic() + 10
    while not _stopped(process.pid) and time.monotonic() < deadline:
        time.sleep(0.01)


def seconds_to_fail(uri: str, process: subprocess.Popen[bytes]) -> str:
    ex = xptrack.Experiment("pause", backend=uri, capture_environment=False)
    x = ex.parameter("x")

    @ex.result
    def train(x):
        for epoch in range(100):
            ex.save_metric("loss", epoch=epoch, value=epoch)
        pause(process)
        return x

    ex.set_parameters(x=1)
    started = time.monotonic()
    try:
        train(x).compute()
    except StoreUnavailable:
        return f"{time.monotonic() - started:.1f} s"
    finally:
        os.kill(process.pid, signal.SIGCONT)
    return "did not fail"


def started(args: list[str], answers: Callable[[], bool]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not wait_until_answers(process, answers, 60):
        stop(process)
        raise SystemExit(f"{args[0]} did not start")
    return process


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        redis = [str(shutil.which("redis-server")), "--port", str(port), "--save", ""]
        process = started([*redis, "--dir", folder], lambda: redis_answers(port))
        try:
            uri = f"redis://127.0.0.1:{port}/0"
            print(f"redis: the trial raised after {seconds_to_fail(uri, process)}")
        finally:
            stop(process)
        port = free_port()
        config = Path(folder) / "secantusd.toml"
        config.write_text("")
        mongo = [str(Path(sys.executable).with_name("secantusd-py")), "--config", str(config)]
        mongo += ["--host", "127.0.0.1", "--port", str(port), "--storage-path", ":memory:"]
        process = started(mongo, lambda: mongo_answers(port))
        try:
            uri = f"mongodb://127.0.0.1:{port}/pause?retryWrites=false"
            print(f"mongo: the trial raised after {seconds_to_fail(uri, process)}")
        finally:
            stop(process)


if __name__ == "__main__":
    main()
