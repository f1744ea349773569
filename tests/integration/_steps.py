"""Experiments the integration tests run in other processes: subprocesses and dask workers.

The builders define steps as closures over ``ex``, the way a user writes them in a
script, so that cloudpickle ships them to dask workers by value (with a handle on the
experiment, not its store). Run as a module, this file is the script the concurrency
and crash tests start as OS processes::

    python -m tests.integration._steps concurrent <backend> <experiment id> <worker> <trials>
    python -m tests.integration._steps crash <backend> <experiment id>

``<backend>`` is a URI, or a folder for the local store. The process prints ``ready``
once its experiment is open and waits for a line on stdin before it runs any trial
(so that several processes start their trials together), then prints one JSON line.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import select
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import xptrack


def open_experiment(backend: Any, experiment_id: str) -> xptrack.Experiment:
    """The experiment as the tests open it: no environment capture (irrelevant and ~1 s)."""
    return xptrack.Experiment(experiment_id, backend=backend, capture_environment=False)


def build_tagged(ex: xptrack.Experiment) -> tuple[Any, Any]:
    """A result step that reports who ran it: ``'<worker>/<i>/<trial id>'``.

    Returns ``(call, tag)``: the call of ``tag`` on the ``worker`` and ``i`` parameters,
    and the step itself (to call it with literal arguments instead). It also saves
    metric ``seen`` = ``worker`` at epoch ``i``, so a metric landing in another trial shows.
    """
    worker = ex.parameter("worker")
    i = ex.parameter("i")

    @ex.result
    def tag(worker, i):
        ex.save_metric("seen", epoch=i, value=worker)
        return f"{worker}/{i}/{ex.current_trial_id}"

    return tag(worker, i), tag


def build_inverse(ex: xptrack.Experiment) -> Any:
    """``1 / x``, with ``x / 2`` persisted by step ``half``: fails for ``x == 0``."""
    x = ex.parameter("x")

    @ex.persist
    def half(x):
        return x / 2

    @ex.result
    def inverse(x, h):
        ex.save_metric("x", epoch=0, value=x)
        return 1 / x

    return inverse(x, half(x))


def build_where(ex: xptrack.Experiment) -> Any:
    """Steps that report the process they ran in: the result is that process's id.

    ``where`` (persisted) saves metric ``pid``; ``report`` saves ``double`` = 2x at epoch 1
    and fails for ``x == 0``.
    """
    x = ex.parameter("x")

    @ex.persist
    def where(x):
        ex.save_metric("pid", epoch=0, value=os.getpid())
        return {"pid": os.getpid(), "x": x, "experiment": ex.id}

    @ex.result
    def report(info):
        if info["x"] == 0:
            raise ValueError("x must not be 0")
        ex.save_metric("double", epoch=1, value=info["x"] * 2)
        return info["pid"]

    return report(where(x))


def build_blocking(ex: xptrack.Experiment) -> Any:
    """A trial whose result step, when ``block`` is true, saves 30 points of metric ``live``,
    prints ``blocked`` and never ends.

    Its first step, ``prepare`` (persisted), saves metric ``progress`` and finishes first.
    """
    a = ex.parameter("a")
    block = ex.parameter("block", default=False)

    @ex.persist
    def prepare(a):
        ex.save_metric("progress", epoch=0, value=a)
        return a * 10

    @ex.result
    def finish(p, block):
        if block:
            for i in range(30):  # points a kill must not lose: the step never ends
                ex.save_metric("live", epoch=i, value=i)
            print("blocked", flush=True)
            threading.Event().wait()  # until the test kills this process
        return p + 1

    return finish(prepare(a), block)


# --- starting the script as OS processes, released together ------------------------------

ROOT = pathlib.Path(__file__).resolve().parents[2]
#: Bound on every wait for a process (generous: the machine is shared).
WAIT_S = 120.0


@contextlib.contextmanager
def running(
    role: str, backend: Any, experiment_id: str, *arguments: Sequence[object], cwd: pathlib.Path
) -> Iterator[list[Any]]:
    """One process of the script per item of ``arguments``; any still running on exit is
    killed (a failing test leaves no process behind)."""
    processes: list[Any] = []
    try:
        for args in arguments:
            processes.append(start(role, backend, experiment_id, *args, cwd=cwd))
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()


def start(role: str, backend: Any, experiment_id: str, *args: object, cwd: pathlib.Path) -> Any:
    """Start ``python -m tests.integration._steps <role> ...``; it prints ``ready`` when open.

    Its log (stderr) goes to a file in ``cwd``, never a pipe nobody reads (which would
    block the process once full); failures show it.
    """
    command = [sys.executable, "-m", "tests.integration._steps", role, str(backend)]
    command += [experiment_id, *map(str, args)]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    log = cwd / f"{role}-{uuid.uuid4().hex[:8]}.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    process.log = log
    return process


def log_of(process: Any) -> str:
    """What ``process`` logged so far."""
    return str(process.log.read_text())


def read_line(process: Any, timeout: float = WAIT_S) -> str:
    """The next line ``process`` prints, waiting at most ``timeout`` seconds for it.

    (``select`` sees the pipe, not Python's buffer: fine here, as the script never prints a
    line before the previous one was answered or acted upon.)
    """
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    line = process.stdout.readline() if ready else ""
    if not line:
        process.kill()
        process.communicate()
        raise AssertionError(f"process printed nothing within {timeout} s; log:\n{log_of(process)}")
    return line.strip()


def release_together(processes: Sequence[Any]) -> None:
    """Wait until every process says ``ready``, then let them all go at once."""
    for process in processes:
        assert read_line(process) == "ready"
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()


def finish(process: Any) -> str:
    """Wait for ``process`` to end successfully; what it printed on stdout."""
    stdout, _ = process.communicate(timeout=WAIT_S)
    assert process.returncode == 0, log_of(process)
    return str(stdout)


# --- the script ---------------------------------------------------------------------------


def _backend_argument(text: str) -> Any:
    return text if "://" in text else pathlib.Path(text)


def _wait_for_go() -> None:
    print("ready", flush=True)
    sys.stdin.readline()


def _concurrent(backend: Any, experiment_id: str, worker: int, trials: int) -> None:
    ex = open_experiment(backend, experiment_id)
    call, _ = build_tagged(ex)
    _wait_for_go()
    results = []
    for i in range(trials):
        ex.set_parameters(worker=worker, i=i)
        results.append(call.compute(seed=i))
    print(json.dumps(results), flush=True)


def _crash(backend: Any, experiment_id: str) -> None:
    ex = open_experiment(backend, experiment_id)
    call = build_blocking(ex)
    _wait_for_go()
    for a in (1, 2):
        ex.set_parameters(a=a)
        call.compute(seed=a)
    ex.set_parameters(a=3, block=True)
    call.compute(seed=3)


def main(argv: list[str]) -> None:
    role, backend, experiment_id, *rest = argv
    if role == "concurrent":
        _concurrent(_backend_argument(backend), experiment_id, int(rest[0]), int(rest[1]))
    elif role == "crash":
        _crash(_backend_argument(backend), experiment_id)
    else:
        raise SystemExit(f"unknown role {role!r}: concurrent or crash")


if __name__ == "__main__":
    main(sys.argv[1:])
