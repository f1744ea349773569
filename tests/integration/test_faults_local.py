"""The local store read where it cannot be written (a copy, another user's folder), and written
durably: each file's data synced before its rename, the folders at a trial's end."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration import _steps

#: Without CAP_DAC_OVERRIDE root obeys file modes as anybody does (tests may run as root).
DROP_ROOTS_OVERRIDE = [
    "setpriv",
    "--inh-caps=-dac_override,-dac_read_search",
    "--bounding-set=-dac_override,-dac_read_search",
]

READER = """
import json, sys, pathlib
import xptrack
from xptrack.errors import XptrackError

ex = xptrack.Experiment(sys.argv[2], backend=pathlib.Path(sys.argv[1]), capture_environment=False)
history = ex.get_history()
seen = {
    "results": [float(r) for r in history["Result"]],
    "persisted": ex.get_persisted("half", 2),
    "metric": list(ex.load_metric("x", [1, 2]).columns),
    "code": ex.get_code(1) != "",
}
x = ex.parameter("x")

@ex.result
def again(x):
    return x

ex.set_parameters(x=1)
try:
    again(x).compute()
except XptrackError as error:
    seen["refused"] = f"{type(error).__name__}: {error}"
print(json.dumps(seen))
"""


def read_only_copy(source: Path, experiment_id: str, destination: Path) -> Path:
    """``source`` copied as a mounted or shared copy is: the database whole (no WAL beside it),
    every file and folder without write permission."""
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("*.db*"))
    with sqlite3.connect(source / f"{experiment_id}.db") as database:
        with sqlite3.connect(destination / f"{experiment_id}.db") as copy:
            database.backup(copy)
        copy.close()
    database.close()
    for path in [destination, *destination.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return destination


def run_as_reader(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    prefix = DROP_ROOTS_OVERRIDE if os.geteuid() == 0 else []
    if prefix and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: file modes cannot be made to bind")
    return subprocess.run(
        [*prefix, sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=args[0],
    )


def test_a_read_only_copy_of_a_local_store_is_readable_and_refuses_writes_clearly(
    tmp_path, experiment_id
):
    ex = _steps.open_experiment(tmp_path / "store", experiment_id)
    ex.run_trials(_steps.build_inverse(ex), [{"x": 1}, {"x": 2}])
    copy = read_only_copy(tmp_path / "store", experiment_id, tmp_path / "copy")

    try:
        reader = run_as_reader(READER, str(copy), experiment_id)
    finally:
        for path in [copy, *copy.rglob("*")]:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)  # so that tmp_path can be removed

    assert reader.returncode == 0, reader.stderr
    seen = json.loads(reader.stdout.splitlines()[-1])
    assert seen["results"] == [1.0, 0.5] and seen["persisted"] == 1.0 and seen["code"]
    assert seen["metric"] == [1, 2]
    assert seen["refused"].startswith(f"StoreError: the local store {copy} is read-only")
    assert "use a folder you can write to" in seen["refused"]
    assert sorted(p.name for p in copy.iterdir() if p.name.startswith(experiment_id)) == [
        f"{experiment_id}.db"
    ]


def test_files_are_synced_before_their_rename_and_folders_when_a_trial_ends(
    tmp_path, experiment_id, monkeypatch
):
    synced: list[int] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:  # a spy: the real fsync still runs
        synced.append(os.fstat(fd).st_ino)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    store = tmp_path / "store"
    ex = _steps.open_experiment(store, experiment_id)
    ex.run_trials(_steps.build_inverse(ex), [{"x": 1}])

    persisted = store / "persist" / f"{experiment_id}_half_1.pkl"
    assert persisted.stat().st_ino in synced
    for folder in (store, store / "persist", store / "code"):
        assert folder.stat().st_ino in synced
