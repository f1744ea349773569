"""Scripts the lifecycle tests run as OS processes (``python -m tests.integration._lifecycle``).

    sweep <backend> <experiment id> <release file>

runs a sweep of four trials: trials 1 and 2 end at once, trials 3 and 4 only once the
release file exists. It prints ``ready`` once the experiment is open, waits for a line
on stdin, then prints the sweep's results as one JSON line.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time
import uuid
from typing import Any

import xptrack
from tests.integration import _steps

#: What a blocked trial waits for at most (the test fails long before).
BLOCK_S = 300.0


def build_sweep(ex: xptrack.Experiment, release: pathlib.Path) -> Any:
    """``work(n)``: ``n * 10``; for ``n >= 3`` only once ``release`` exists."""
    n = ex.parameter("n")

    @ex.result
    def work(n):
        ex.save_metric("started", epoch=0, value=n)
        deadline = time.monotonic() + BLOCK_S
        while n >= 3 and not release.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return n * 10

    return work(n)


def _sweep(backend: Any, experiment_id: str, release: pathlib.Path) -> None:
    ex = _steps.open_experiment(backend, experiment_id)
    call = build_sweep(ex, release)
    print("ready", flush=True)
    sys.stdin.readline()
    results = ex.run_trials(call, [{"n": n} for n in (1, 2, 3, 4)], num_workers=4)
    print(json.dumps(results), flush=True)


def start_sweep(backend: Any, experiment_id: str, release: pathlib.Path, cwd: pathlib.Path) -> Any:
    """Start the sweep script as a process (its log in ``cwd``, see ``_steps.log_of``)."""
    command = [sys.executable, "-m", "tests.integration._lifecycle", "sweep", str(backend)]
    command += [experiment_id, str(release)]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(_steps.ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    log = cwd / f"sweep-{uuid.uuid4().hex[:8]}.log"
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


if __name__ == "__main__":
    role, backend, experiment_id, release = sys.argv[1:]
    assert role == "sweep", role
    where = pathlib.Path(backend) if "://" not in backend else backend
    _sweep(where, experiment_id, pathlib.Path(release))
