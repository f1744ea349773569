"""Where the time goes: pyinstrument profiles of W1, W2 and W3, and W4's import tree.

    .venv/bin/python benchmarks/profile.py w1      # 500 local trials, scheduler='sync'
    .venv/bin/python benchmarks/profile.py w2      # 100,000 save_metric calls in one step
    .venv/bin/python benchmarks/profile.py w3      # get_history() of 1,000 local trials
    .venv/bin/python benchmarks/profile.py w4      # python -X importtime -c "import xptrack"

W1 runs with dask's synchronous scheduler so that the steps' own work (purity check,
metric flush) shows in the profile: with threads, pyinstrument sees only the driver thread
waiting. Run against a scratch copy of ``src/`` with ``PYTHONPATH=/path/to/copy/src``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from measure import Backend, two_step_experiment
from pyinstrument import Profiler

import xptrack
from xptrack.domain.trial import TrialRecord, utcnow


def _quiet() -> None:
    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115
    logging.getLogger("xptrack").addHandler(handler)
    logging.getLogger("xptrack").setLevel(logging.INFO)


def _show(profiler: Profiler) -> None:
    print(profiler.output_text(unicode=False, color=False, show_all=False))


def profile_w1(folder: Path) -> None:
    _, call = two_step_experiment(Backend("local", folder), "w1", capture_environment=False)
    for _ in range(30):
        call.compute(scheduler="sync")
    profiler = Profiler(interval=0.0002)
    with profiler:
        for _ in range(500):
            call.compute(scheduler="sync")
    _show(profiler)


def profile_w2(folder: Path) -> None:
    ex = xptrack.Experiment("w2", backend=folder / "w2", capture_environment=False)
    profiler = Profiler(interval=0.0002)

    @ex.result
    def log_points(n: int) -> int:
        save = ex.save_metric
        with profiler:
            for epoch in range(n):
                save("loss", epoch, 0.5)
        return n

    log_points(100_000).compute(scheduler="sync")
    _show(profiler)


def profile_w3(folder: Path) -> None:
    ex = xptrack.Experiment("w3", backend=folder / "w3", capture_environment=False)
    store: Any = xptrack.open_backend(folder / "w3", "w3").open("w3")
    for _ in range(1_000):
        trial_id = store.next_trial_id()
        record = TrialRecord(trial_id, {"a": trial_id % 10, "b": 0.5}, utcnow(), seed=1)
        store.save_trial(record.succeeded(1.0 / trial_id, utcnow(), 0.01))
    ex.get_history()
    profiler = Profiler(interval=0.0002)
    with profiler:
        for _ in range(10):
            ex.get_history()
    _show(profiler)


def profile_w4() -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import xptrack"],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), int(parts[0].split(":")[1]), parts[2].rstrip()))
    print("cumulative_ms  self_ms  module")
    for cumulative, own, name in sorted(rows, reverse=True)[:30]:
        print(f"{cumulative / 1000:12.1f} {own / 1000:8.1f}  {name}")


def main() -> None:
    which = sys.argv[1] if len(sys.argv) > 1 else "w1"
    _quiet()
    if which == "w4":
        profile_w4()
        return
    with tempfile.TemporaryDirectory(prefix="xptrack-profile-") as temp:
        {"w1": profile_w1, "w2": profile_w2, "w3": profile_w3}[which](Path(temp))


if __name__ == "__main__":
    main()
